// @ts-check
/*
 * A client for @mashroom/mashroom-websocket that gets every message exactly once, in order, through dropped
 * connections. It speaks the delivery protocol (WebSocket subprotocol "mashroom-delivery.v1"): the server
 * numbers every message, the client tells which it has, and after a drop the client resumes its id with
 * backoff and the server replays what it missed. Duplicates are dropped here.
 *
 * Browser: <script src="<basePath>/mashroom-websocket-client.js"></script>, then window.MashroomWebSocketClient.
 * Node.js: require('@mashroom/mashroom-websocket/client'), with the `ws` package as `WebSocket` option.
 * With a server that does not speak the protocol (the original package) it falls back to plain messages.
 */
(function (root, factory) {
    if (typeof module === 'object' && module.exports) {
        module.exports = factory();
    } else {
        /** @type {any} */ (root).MashroomWebSocketClient = factory();
    }
}(globalThis, function () {
    'use strict';

    var PROTOCOL = 'mashroom-delivery.v1';
    var KEEP_ALIVE = '"keepalive"';
    // Acknowledge at once, not after ackDelayMs, once this much has arrived unacknowledged: a fast stream
    // must not pile up at the server (which closes a client with more unacknowledged than its buffer takes)
    var ACK_AFTER_MESSAGES = 100;
    var ACK_AFTER_CHARS = 64 * 1024;
    // A server without the protocol sends no setClientId on a resume: how long to wait for one before the
    // connection counts as ready anyway (when no other frame says so earlier)
    var LEGACY_READY_MS = 3000;

    /**
     * @typedef {{getItem(key: string): string | null; setItem(key: string, value: string): void; removeItem(key: string): void}} Storage
     * @typedef {{
     *   WebSocket?: any,
     *   webSocketOptions?: object,
     *   storage?: Storage | null,
     *   storageKey?: string,
     *   reconnect?: {initialDelayMs?: number, maxDelayMs?: number, factor?: number, jitter?: number, maxAttempts?: number},
     *   ackDelayMs?: number,
     *   idleTimeoutMs?: number,
     * }} ClientOptions
     */

    /** @returns {Storage | null} */
    var defaultStorage = function () {
        try {
            var storage = /** @type {any} */ (globalThis).sessionStorage;
            return storage && typeof storage.getItem === 'function' ? storage : null;
        } catch (e) {
            return null;
        }
    };

    /** @param {string} url @param {Record<string, string>} params */
    var withQuery = function (url, params) {
        var parts = url.split('#')[0].split('?');
        var query = (parts[1] || '').split('&').filter(function (part) {
            var name = decodeURIComponent(part.split('=')[0]);
            return part !== '' && !Object.prototype.hasOwnProperty.call(params, name);
        });
        Object.keys(params).forEach(function (name) {
            query.push(encodeURIComponent(name) + '=' + encodeURIComponent(params[name]));
        });
        return parts[0] + (query.length > 0 ? '?' + query.join('&') : '');
    };

    class MashroomWebSocketClient {

        /**
         * @param {string} url ws: or wss: URL below the server's WebSocket base path
         * @param {ClientOptions} [options]
         */
        constructor(url, options) {
            var opts = options || {};
            var reconnect = opts.reconnect || {};
            this.url = url;
            this._WebSocket = opts.WebSocket || /** @type {any} */ (globalThis).WebSocket;
            if (!this._WebSocket) {
                throw new Error('No WebSocket implementation: pass one as the WebSocket option (e.g. require("ws"))');
            }
            this._webSocketOptions = opts.webSocketOptions;
            this._storage = opts.storage === undefined ? defaultStorage() : opts.storage;
            this._storageKey = opts.storageKey || 'mashroom-websocket:' + url.split('?')[0];
            this._initialDelayMs = reconnect.initialDelayMs === undefined ? 250 : reconnect.initialDelayMs;
            this._maxDelayMs = reconnect.maxDelayMs === undefined ? 10000 : reconnect.maxDelayMs;
            this._factor = reconnect.factor === undefined ? 2 : reconnect.factor;
            this._jitter = reconnect.jitter === undefined ? 0.3 : reconnect.jitter;
            this._maxAttempts = reconnect.maxAttempts === undefined ? Infinity : reconnect.maxAttempts;
            this._ackDelayMs = opts.ackDelayMs === undefined ? 200 : opts.ackDelayMs;
            this._idleTimeoutMs = opts.idleTimeoutMs || 0;

            /** @type {Record<string, Array<(event: any) => void>>} */
            this._listeners = {};
            /** @type {any} */
            this._socket = null;
            this._wanted = false;
            this._attempts = 0;
            /** @type {ReturnType<typeof setTimeout> | null} */
            this._reconnectTimer = null;
            /** @type {ReturnType<typeof setTimeout> | null} */
            this._ackTimer = null;
            /** @type {ReturnType<typeof setTimeout> | null} */
            this._idleTimer = null;
            /** @type {ReturnType<typeof setTimeout> | null} */
            this._legacyTimer = null;
            /** @type {Array<string>} */
            this._outbox = [];
            // Connected and told its id: messages go out at once, not into the outbox
            this._ready = false;
            // The server said it speaks the delivery protocol (in its setClientId)
            this._sequenced = false;
            // The server turned out not to speak it (the original package): it sends no setClientId on a
            // resume, so a resumed connection is ready with its first frame (see _legacyFrame)
            this._legacy = false;
            this._ackedSeq = 0;
            // Characters received since the last acknowledgement, and how many make it acknowledge at once (the
            // server may ask for less: what it lets a client leave unacknowledged follows its buffer size)
            this._unackedChars = 0;
            this._ackAfterChars = ACK_AFTER_CHARS;
            /** Messages dropped as duplicates so far */
            this.duplicates = 0;

            var self = this;
            // A page that goes away keeps how far it got, so that it resumes where it was
            this._onPageHide = function () {
                self._save();
            };

            var saved = this._load();
            /** @type {string | null} The id the server gave this client */
            this.clientId = saved.clientId;
            /** The number of the last message delivered */
            this.lastSeq = saved.lastSeq;
            // Kept with the id: a reloaded page resumes on the same server
            this._legacy = saved.legacy;
        }

        /** Whether a connection is open */
        get connected() {
            return !!this._socket && this._socket.readyState === 1;
        }

        /**
         * Listen to 'message' (payload), 'open' ({clientId, resumed}), 'reset' ({clientId, previousClientId}:
         * the server could not resume, the application should resynchronise), 'close' ({code, reason,
         * willReconnect}) and 'error' (Error).
         * @param {'message' | 'open' | 'reset' | 'close' | 'error'} event
         * @param {(event: any) => void} listener
         */
        on(event, listener) {
            (this._listeners[event] = this._listeners[event] || []).push(listener);
            return this;
        }

        /** @param {string} event @param {(event: any) => void} listener */
        off(event, listener) {
            this._listeners[event] = (this._listeners[event] || []).filter(function (each) {
                return each !== listener;
            });
            return this;
        }

        /** Connect, and keep reconnecting after drops until close() */
        connect() {
            var root = /** @type {any} */ (globalThis);
            if (!this._wanted && typeof root.addEventListener === 'function') {
                root.addEventListener('pagehide', this._onPageHide);
            }
            this._wanted = true;
            this._attempts = 0;
            if (!this._socket && !this._reconnectTimer) {
                this._open();
            }
            return this;
        }

        /**
         * Send a message (JSON). While disconnected it is queued and sent after the reconnect, in order.
         * Messages to the server are sent at most once: one in flight when a connection dies may be lost.
         * @param {unknown} message
         */
        send(message) {
            var data = JSON.stringify(message);
            if (typeof data !== 'string') {
                throw new TypeError('A message of type ' + typeof message + ' cannot be sent as JSON');
            }
            if (this._ready) {
                this._write(data);
            } else {
                this._outbox.push(data);
            }
        }

        /** @private @param {string} data */
        _write(data) {
            this._socket.send(this._sequenced ? '{"type":"message","payload":' + data + '}' : data);
        }

        /** Close for good (no reconnect). connect() later resumes the same client if the server still has it */
        close() {
            var root = /** @type {any} */ (globalThis);
            if (this._wanted && typeof root.removeEventListener === 'function') {
                root.removeEventListener('pagehide', this._onPageHide);
            }
            this._wanted = false;
            this._clearTimer('_reconnectTimer');
            this._sendAck();
            this._ready = false;
            this._clearTimer('_legacyTimer');
            if (this._socket) {
                this._socket.close(1000, 'Closed by the client');
            }
        }

        /** @private */
        _open() {
            var self = this;
            var url = this.clientId
                ? withQuery(this.url, {clientId: this.clientId, lastSeq: String(this.lastSeq)})
                : this.url;
            /** @type {any} */
            var socket;
            try {
                socket = this._webSocketOptions
                    ? new this._WebSocket(url, [PROTOCOL], this._webSocketOptions)
                    : new this._WebSocket(url, [PROTOCOL]);
            } catch (error) {
                this._emit('error', error);
                this._scheduleReconnect();
                return;
            }
            this._socket = socket;
            socket.onopen = function () {
                self._touch();
                if (self._legacy && self.clientId) {
                    self._legacyTimer = setTimeout(function () {
                        self._legacyTimer = null;
                        if (self._socket === socket) {
                            self._legacyFrame();
                        }
                    }, LEGACY_READY_MS);
                }
            };
            socket.onmessage = function (/** @type {{data: unknown}} */ event) {
                if (self._socket === socket) {
                    self._touch();
                    self._receive(String(event.data));
                }
            };
            socket.onerror = function () {
                // The close event follows and decides
            };
            socket.onclose = function (/** @type {{code: number, reason: string}} */ event) {
                if (self._socket === socket) {
                    self._closed(event.code, event.reason);
                }
            };
        }

        /**
         * @private The connection ended (or is given up): forget it at once, without waiting for a closing
         * handshake, and reconnect if wanted
         * @param {number} code @param {string} reason
         */
        _closed(code, reason) {
            this._socket = null;
            this._ready = false;
            this._clearTimer('_ackTimer');
            this._clearTimer('_idleTimer');
            this._clearTimer('_legacyTimer');
            var willReconnect = this._wanted && this._attempts < this._maxAttempts;
            this._emit('close', {code: code, reason: reason, willReconnect: willReconnect});
            if (willReconnect) {
                this._scheduleReconnect();
            }
        }

        /** @private @param {string} data */
        _receive(data) {
            if (data === KEEP_ALIVE) {
                this._legacyFrame();
                return;
            }
            var message;
            try {
                message = JSON.parse(data);
            } catch (error) {
                this._legacyFrame();
                this._emit('error', new Error('Not JSON: ' + data.slice(0, 100)));
                return;
            }
            if (message && message.type === 'setClientId' && typeof message.payload === 'string') {
                var ackAfterChars = message.ackAfterChars;
                this._ackAfterChars = typeof ackAfterChars === 'number' && ackAfterChars >= 1 ? Math.min(ackAfterChars, ACK_AFTER_CHARS) : ACK_AFTER_CHARS;
                this._identified(message.payload, message.protocol === PROTOCOL);
                return;
            }
            this._legacyFrame();
            if (this._sequenced && message && message.type === 'message' && typeof message.seq === 'number') {
                this._sequencedMessage(message.seq, message.payload, data.length);
            } else {
                this._emit('message', message);
            }
        }

        /**
         * @private A frame other than setClientId on a resumed connection to a server without the protocol:
         * the server has taken the client back (it would have sent a new id first otherwise)
         */
        _legacyFrame() {
            if (this._legacy && !this._ready && this._socket) {
                this._clearTimer('_legacyTimer');
                this._ready = true;
                this._attempts = 0;
                this._flushOutbox();
                this._emit('open', {clientId: this.clientId, resumed: true});
            }
        }

        /** @private @param {string} clientId @param {boolean} sequenced */
        _identified(clientId, sequenced) {
            this._clearTimer('_legacyTimer');
            this._sequenced = sequenced;
            this._legacy = !sequenced;
            // A connection that got this far worked: the backoff starts over
            this._attempts = 0;
            var previousClientId = this.clientId;
            var resumed = previousClientId === clientId;
            this.clientId = clientId;
            if (!resumed) {
                // A new client on the server: its numbering starts afresh
                this.lastSeq = 0;
                this._ackedSeq = 0;
            }
            this._save();
            if (previousClientId && !resumed) {
                this._emit('reset', {clientId: clientId, previousClientId: previousClientId});
            }
            if (this._ready) {
                // Taken as ready already (a server without the protocol, slow to tell the id)
                return;
            }
            this._ready = true;
            this._flushOutbox();
            this._emit('open', {clientId: clientId, resumed: resumed});
        }

        /** @private */
        _flushOutbox() {
            var outbox = this._outbox;
            this._outbox = [];
            for (var index = 0; index < outbox.length; index++) {
                this._write(outbox[index]);
            }
        }

        /** @private @param {number} seq @param {unknown} payload @param {number} size */
        _sequencedMessage(seq, payload, size) {
            if (seq <= this.lastSeq) {
                this.duplicates++;
                return;
            }
            if (seq !== this.lastSeq + 1) {
                this._emit('error', new Error('Messages ' + (this.lastSeq + 1) + ' to ' + (seq - 1) + ' are missing'));
            }
            this.lastSeq = seq;
            this._unackedChars += size;
            this._emit('message', payload);
            // Acknowledged once the application has it
            if (this.lastSeq - this._ackedSeq >= ACK_AFTER_MESSAGES || this._unackedChars >= this._ackAfterChars) {
                this._sendAck();
            } else {
                this._scheduleAck();
            }
        }

        /** @private */
        _scheduleAck() {
            var self = this;
            if (!this._ackTimer) {
                this._ackTimer = setTimeout(function () {
                    self._ackTimer = null;
                    self._sendAck();
                }, this._ackDelayMs);
            }
        }

        /** @private Tell the server (and the storage) which messages have arrived */
        _sendAck() {
            this._clearTimer('_ackTimer');
            if (this.lastSeq === this._ackedSeq) {
                return;
            }
            this._save();
            if (this.connected && this._sequenced) {
                this._socket.send(JSON.stringify({type: 'ack', seq: this.lastSeq}));
                this._ackedSeq = this.lastSeq;
                this._unackedChars = 0;
            }
        }

        /** @private */
        _scheduleReconnect() {
            var self = this;
            if (!this._wanted || this._reconnectTimer || this._attempts >= this._maxAttempts) {
                return;
            }
            var delay = Math.min(this._maxDelayMs, this._initialDelayMs * Math.pow(this._factor, this._attempts));
            delay = delay * (1 - this._jitter + 2 * this._jitter * Math.random());
            this._attempts++;
            this._reconnectTimer = setTimeout(function () {
                self._reconnectTimer = null;
                if (self._wanted && !self._socket) {
                    self._open();
                }
            }, delay);
        }

        /** @private A connection that has been silent longer than idleTimeoutMs is taken for dead */
        _touch() {
            var self = this;
            if (this._idleTimeoutMs > 0) {
                this._clearTimer('_idleTimer');
                this._idleTimer = setTimeout(function () {
                    self._idleTimer = null;
                    var socket = self._socket;
                    if (socket) {
                        // A dead connection would take its time to close: give it up now and reconnect
                        try {
                            socket.close(4000, 'Idle');
                        } catch (e) {
                            // Closing anyway
                        }
                        self._closed(4000, 'Idle');
                    }
                }, this._idleTimeoutMs);
            }
        }

        /** @private @param {'_reconnectTimer' | '_ackTimer' | '_idleTimer' | '_legacyTimer'} name */
        _clearTimer(name) {
            var timer = this[name];
            if (timer) {
                clearTimeout(timer);
                this[name] = null;
            }
        }

        /** @private @param {string} event @param {unknown} value */
        _emit(event, value) {
            (this._listeners[event] || []).slice().forEach(function (listener) {
                try {
                    listener(value);
                } catch (error) {
                    if (event !== 'error') {
                        setTimeout(function () {
                            throw error;
                        });
                    }
                }
            });
        }

        /** @private @returns {{clientId: string | null, lastSeq: number, legacy: boolean}} */
        _load() {
            try {
                var saved = this._storage ? JSON.parse(this._storage.getItem(this._storageKey) || 'null') : null;
                if (saved && typeof saved.clientId === 'string' && typeof saved.lastSeq === 'number') {
                    return {clientId: saved.clientId, lastSeq: saved.lastSeq, legacy: saved.legacy === true};
                }
            } catch (e) {
                // Unreadable: start afresh
            }
            return {clientId: null, lastSeq: 0, legacy: false};
        }

        /** @private */
        _save() {
            try {
                if (this._storage && this.clientId) {
                    this._storage.setItem(this._storageKey, JSON.stringify({clientId: this.clientId, lastSeq: this.lastSeq, legacy: this._legacy}));
                }
            } catch (e) {
                // Storage full or disabled: the state lives on in memory
            }
        }
    }

    MashroomWebSocketClient.PROTOCOL = PROTOCOL;
    return MashroomWebSocketClient;
}));
