// @ts-check
/*
 * Client library of @mashroom/mashroom-websocket: every message exactly once, in order, through dropped
 * connections (delivery protocol "mashroom-delivery.v1", see the README; its states: docs/ARCHITECTURE.md).
 *
 * Browser: <script src="<basePath>/mashroom-websocket-client.js"></script>, then window.MashroomWebSocketClient.
 * Node.js: require('@mashroom/mashroom-websocket/client'), with the `ws` package as `WebSocket` option.
 */
((root, factory) => {
    if (typeof module === 'object' && module.exports) {
        module.exports = factory();
    } else {
        /** @type {any} */ (root).MashroomWebSocketClient = factory();
    }
})(globalThis, () => {
    'use strict';

    const PROTOCOL = 'mashroom-delivery.v1';
    const KEEP_ALIVE = '"keepalive"';
    // Acknowledge at once, not after ackDelayMs, once this much has arrived unacknowledged: a fast stream
    // must not pile up at the server (which closes a client with more unacknowledged than its buffer takes)
    const ACK_AFTER_MESSAGES = 100;
    const ACK_AFTER_CHARS = 64 * 1024;
    // A server without the protocol sends no setClientId on a resume: how long to wait for one before the
    // connection counts as ready anyway (when no other frame says so earlier)
    const LEGACY_READY_MS = 3000;
    const SOCKET_OPEN = 1;
    // Close codes of a server that stops or restarts (see the README, Deploys and restarts)
    const CLOSE_GOING_AWAY = 1001;
    const CLOSE_SERVICE_RESTART = 1012;

    /**
     * @typedef {{getItem(key: string): string | null; setItem(key: string, value: string): void; removeItem(key: string): void}} Storage
     * @typedef {{
     *   WebSocket?: any,
     *   webSocketOptions?: object,
     *   storage?: Storage | null,
     *   storageKey?: string,
     *   reconnect?: {initialDelayMs?: number, maxDelayMs?: number, factor?: number, jitter?: number, maxAttempts?: number, restartSpreadMs?: number},
     *   ackDelayMs?: number,
     *   idleTimeoutMs?: number,
     * }} ClientOptions
     *
     * @typedef {ReturnType<typeof setTimeout>} Timer
     * @typedef {{socket: any, idleTimer: Timer | null}} Connection
     *
     * The states (see docs/ARCHITECTURE.md). `attempts` counts connections in a row that did not get as far as
     * being ready, for reconnect.maxAttempts.
     * @typedef {{name: 'closed'}} Closed
     * @typedef {{name: 'connecting', connection: Connection, attempts: number, readyTimer: Timer | null}} Connecting
     * @typedef {{name: 'open', connection: Connection, ackTimer: Timer | null}} Open
     * @typedef {{name: 'closing', connection: Connection}} Closing
     * @typedef {{name: 'reopening', connection: Connection}} Reopening
     * @typedef {{name: 'disconnected'}} Disconnected
     * @typedef {{name: 'waiting', timer: Timer, attempts: number}} Waiting
     * @typedef {Closed | Connecting | Open | Closing | Reopening | Disconnected | Waiting} State
     */

    /** @returns {Storage | null} */
    function defaultStorage() {
        try {
            const storage = /** @type {any} */ (globalThis).sessionStorage;
            return storage && typeof storage.getItem === 'function' ? storage : null;
        } catch {
            return null;
        }
    }

    /** @param {string} url @param {Record<string, string>} params */
    function withQuery(url, params) {
        const [base, query = ''] = url.split('#')[0].split('?');
        const kept = query.split('&').filter((part) =>
            part !== '' && !Object.prototype.hasOwnProperty.call(params, decodeURIComponent(part.split('=')[0])));
        for (const [name, value] of Object.entries(params)) {
            kept.push(`${encodeURIComponent(name)}=${encodeURIComponent(value)}`);
        }
        return base + (kept.length > 0 ? `?${kept.join('&')}` : '');
    }

    /** @param {Timer | null} timer */
    function clear(timer) {
        if (timer) {
            clearTimeout(timer);
        }
    }

    /** Between connect() and close() @param {State} state */
    function wanted(state) {
        return state.name !== 'closed' && state.name !== 'closing';
    }

    class MashroomWebSocketClient {

        /** The WebSocket subprotocol it asks for */
        static get PROTOCOL() {
            return PROTOCOL;
        }

        /** The keep-alive frame of the server, as it arrives */
        static get KEEP_ALIVE() {
            return KEEP_ALIVE;
        }

        /** After how many characters received it acknowledges at the latest (the server may ask for fewer) */
        static get ACK_AFTER_CHARS() {
            return ACK_AFTER_CHARS;
        }

        /**
         * @param {string} url ws: or wss: URL below the server's WebSocket base path
         * @param {ClientOptions} [options]
         */
        constructor(url, options) {
            const opts = options || {};
            this.url = url;
            this._WebSocket = opts.WebSocket || /** @type {any} */ (globalThis).WebSocket;
            if (!this._WebSocket) {
                throw new Error('No WebSocket implementation: pass one as the WebSocket option (e.g. require("ws"))');
            }
            this._webSocketOptions = opts.webSocketOptions;
            this._storage = opts.storage === undefined ? defaultStorage() : opts.storage;
            this._storageKey = opts.storageKey || `mashroom-websocket:${url.split('?')[0]}`;
            const {initialDelayMs = 250, maxDelayMs = 10000, factor = 2, jitter = 0.3, maxAttempts = Infinity, restartSpreadMs = 2000} = opts.reconnect || {};
            this._backoff = {initialDelayMs, maxDelayMs, factor, jitter, maxAttempts, restartSpreadMs};
            this._ackDelayMs = opts.ackDelayMs === undefined ? 200 : opts.ackDelayMs;
            this._idleTimeoutMs = opts.idleTimeoutMs || 0;

            /** @type {State} */
            this._state = {name: 'closed'};
            /** @type {Record<string, Array<(event: any) => void>>} */
            this._listeners = {};
            /** @type {Array<string>} Sent while not open, in order */
            this._outbox = [];
            // The server said it speaks the delivery protocol (in its setClientId)
            this._sequenced = false;
            this._ackedSeq = 0;
            // Characters received since the last acknowledgement, and how many make it acknowledge at once (the
            // server may ask for less: what it lets a client leave unacknowledged follows its buffer size)
            this._unackedChars = 0;
            this._ackAfterChars = ACK_AFTER_CHARS;
            /** Messages dropped as duplicates so far */
            this.duplicates = 0;
            // A page that goes away keeps how far it got, so that it resumes where it was
            this._onPageHide = () => this._save();

            const saved = this._load();
            /** @type {string | null} The id the server gave this client */
            this.clientId = saved.clientId;
            /** The number of the last message delivered */
            this.lastSeq = saved.lastSeq;
            // The server turned out not to speak the protocol (the original package): it sends no setClientId
            // on a resume, so a resumed connection is ready with its first frame (see _readyIfLegacy). Kept with
            // the id: a reloaded page resumes on the same server
            this._legacy = saved.legacy;
        }

        /** Whether a connection is open */
        get connected() {
            return this._openSocket() !== null;
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
            this._listeners[event] = (this._listeners[event] || []).filter((each) => each !== listener);
            return this;
        }

        /** Connect, and keep reconnecting after drops until close() */
        connect() {
            const state = this._state;
            const root = /** @type {any} */ (globalThis);
            if (!wanted(state) && typeof root.addEventListener === 'function') {
                root.addEventListener('pagehide', this._onPageHide);
            }
            if (state.name === 'closed' || state.name === 'disconnected') {
                this._dial(0);
            } else if (state.name === 'closing') {
                // The socket being closed is waited for, as after a drop
                this._state = {name: 'reopening', connection: state.connection};
            } else if (state.name === 'connecting' || state.name === 'waiting') {
                // Asked anew: the backoff starts over
                state.attempts = 0;
            }
            return this;
        }

        /**
         * Send a message (JSON). While disconnected it is queued and sent after the reconnect, in order.
         * Messages to the server are sent at most once: one in flight when a connection dies may be lost.
         * @param {unknown} message
         */
        send(message) {
            const data = JSON.stringify(message);
            if (typeof data !== 'string') {
                throw new TypeError(`A message of type ${typeof message} cannot be sent as JSON`);
            }
            const state = this._state;
            if (state.name === 'open') {
                this._write(state.connection.socket, data);
            } else {
                this._outbox.push(data);
            }
        }

        /** Close for good (no reconnect). connect() later resumes the same client if the server still has it */
        close() {
            const state = this._state;
            const root = /** @type {any} */ (globalThis);
            if (wanted(state) && typeof root.removeEventListener === 'function') {
                root.removeEventListener('pagehide', this._onPageHide);
            }
            // First, while an open connection can still take it
            this._sendAck();
            if (state.name === 'connecting' || state.name === 'open') {
                if (state.name === 'connecting') {
                    clear(state.readyTimer);
                }
                this._state = {name: 'closing', connection: state.connection};
                state.connection.socket.close(1000, 'Closed by the client');
            } else if (state.name === 'reopening') {
                this._state = {name: 'closing', connection: state.connection};
            } else if (state.name === 'waiting' || state.name === 'disconnected') {
                if (state.name === 'waiting') {
                    clearTimeout(state.timer);
                }
                this._state = {name: 'closed'};
            }
        }

        /** @private Open a socket: connecting, or disconnected if the WebSocket refuses at once @param {number} attempts */
        _dial(attempts) {
            const url = this.clientId
                ? withQuery(this.url, {clientId: this.clientId, lastSeq: String(this.lastSeq)})
                : this.url;
            let socket;
            try {
                socket = this._webSocketOptions
                    ? new this._WebSocket(url, [PROTOCOL], this._webSocketOptions)
                    : new this._WebSocket(url, [PROTOCOL]);
            } catch (error) {
                /** @type {Disconnected} */
                const disconnected = {name: 'disconnected'};
                this._state = disconnected;
                this._emit('error', error);
                this._backOff(disconnected, attempts, false);
                return;
            }
            /** @type {Connection} */
            const connection = {socket, idleTimer: null};
            this._state = {name: 'connecting', connection, attempts, readyTimer: null};
            // Every handler first makes sure that its socket is still the current one: one that was given up
            // (idle) or replaced may still report
            socket.onopen = () => this._socketOpened(connection);
            socket.onmessage = (/** @type {{data: unknown}} */ event) => this._frameReceived(connection, String(event.data));
            socket.onerror = () => {
                // The close event follows and decides
            };
            socket.onclose = (/** @type {{code: number, reason: string}} */ event) => {
                if (this._owns(connection)) {
                    this._dropped(event.code, event.reason);
                }
            };
        }

        /** @private @param {Connection} connection */
        _owns(connection) {
            const state = this._state;
            return 'connection' in state && state.connection === connection;
        }

        /** @private The socket of the current state if it is open, else null */
        _openSocket() {
            const state = this._state;
            return 'connection' in state && state.connection.socket.readyState === SOCKET_OPEN ? state.connection.socket : null;
        }

        /** @private @param {Connection} connection */
        _socketOpened(connection) {
            const state = this._state;
            if (state.name !== 'connecting' || state.connection !== connection) {
                return;
            }
            this._touch(connection);
            if (this._legacy && this.clientId) {
                state.readyTimer = setTimeout(() => {
                    state.readyTimer = null;
                    if (this._state === state) {
                        this._readyIfLegacy();
                    }
                }, LEGACY_READY_MS);
            }
        }

        /** @private @param {Connection} connection @param {string} data */
        _frameReceived(connection, data) {
            const state = this._state;
            if (!this._owns(connection)) {
                return;
            }
            this._touch(connection);
            // After close() nothing reaches the application any more (browsers drop such frames themselves);
            // what was not acknowledged is replayed on a resume
            if (state.name === 'connecting' || state.name === 'open') {
                this._receive(data);
            }
        }

        /** @private @param {string} data */
        _receive(data) {
            if (data === KEEP_ALIVE) {
                this._readyIfLegacy();
                return;
            }
            let message;
            try {
                message = JSON.parse(data);
            } catch {
                this._readyIfLegacy();
                this._emit('error', new Error(`Not JSON: ${data.slice(0, 100)}`));
                return;
            }
            if (message && message.type === 'setClientId' && typeof message.payload === 'string') {
                const {ackAfterChars} = message;
                this._ackAfterChars = typeof ackAfterChars === 'number' && ackAfterChars >= 1 ? Math.min(ackAfterChars, ACK_AFTER_CHARS) : ACK_AFTER_CHARS;
                this._identified(message.payload, message.protocol === PROTOCOL);
                return;
            }
            this._readyIfLegacy();
            if (this._sequenced && message && message.type === 'message' && typeof message.seq === 'number') {
                this._sequencedMessage(message.seq, message.payload, data.length);
            } else {
                this._emit('message', message);
            }
        }

        /**
         * @private A frame other than setClientId (or LEGACY_READY_MS without any) on a resumed connection to a
         * server without the protocol: the server has taken the client back (it would have sent a new id first)
         */
        _readyIfLegacy() {
            const state = this._state;
            if (this._legacy && state.name === 'connecting') {
                this._ready(state, true);
            }
        }

        /** @private @param {string} clientId @param {boolean} sequenced */
        _identified(clientId, sequenced) {
            const state = this._state;
            if (state.name === 'connecting') {
                clear(state.readyTimer);
                state.readyTimer = null;
            }
            this._sequenced = sequenced;
            this._legacy = !sequenced;
            const previousClientId = this.clientId;
            const resumed = previousClientId === clientId;
            this.clientId = clientId;
            if (!resumed) {
                // A new client on the server: its numbering starts afresh
                this.lastSeq = 0;
                this._ackedSeq = 0;
            }
            this._save();
            if (previousClientId && !resumed) {
                this._emit('reset', {clientId, previousClientId});
            }
            // Not when open already (a server without the protocol, slow to tell the id), nor when a reset
            // listener closed the client
            if (state.name === 'connecting' && this._state === state) {
                this._ready(state, resumed);
            }
        }

        /** @private Connecting -> open @param {Connecting} state @param {boolean} resumed */
        _ready(state, resumed) {
            clear(state.readyTimer);
            this._state = {name: 'open', connection: state.connection, ackTimer: null};
            const outbox = this._outbox;
            this._outbox = [];
            for (const data of outbox) {
                this._write(state.connection.socket, data);
            }
            this._emit('open', {clientId: this.clientId, resumed});
        }

        /** @private @param {any} socket @param {string} data */
        _write(socket, data) {
            socket.send(this._sequenced ? `{"type":"message","payload":${data}}` : data);
        }

        /** @private @param {number} seq @param {unknown} payload @param {number} size */
        _sequencedMessage(seq, payload, size) {
            if (seq <= this.lastSeq) {
                this.duplicates++;
                return;
            }
            if (seq !== this.lastSeq + 1) {
                this._emit('error', new Error(`Messages ${this.lastSeq + 1} to ${seq - 1} are missing`));
            }
            this.lastSeq = seq;
            this._unackedChars += size;
            this._emit('message', payload);
            // Acknowledged once the application has it
            const state = this._state;
            if (this.lastSeq - this._ackedSeq >= ACK_AFTER_MESSAGES || this._unackedChars >= this._ackAfterChars) {
                this._sendAck();
            } else if (state.name === 'open' && !state.ackTimer) {
                state.ackTimer = setTimeout(() => {
                    state.ackTimer = null;
                    if (this._state === state) {
                        this._sendAck();
                    }
                }, this._ackDelayMs);
            }
        }

        /** @private Tell the server (and the storage) which messages have arrived */
        _sendAck() {
            const state = this._state;
            if (state.name === 'open') {
                clear(state.ackTimer);
                state.ackTimer = null;
            }
            if (this.lastSeq === this._ackedSeq) {
                return;
            }
            this._save();
            const socket = this._openSocket();
            if (socket && this._sequenced) {
                socket.send(JSON.stringify({type: 'ack', seq: this.lastSeq}));
                this._ackedSeq = this.lastSeq;
                this._unackedChars = 0;
            }
        }

        /** @private A connection that has been silent longer than idleTimeoutMs is taken for dead @param {Connection} connection */
        _touch(connection) {
            if (this._idleTimeoutMs > 0) {
                clear(connection.idleTimer);
                connection.idleTimer = setTimeout(() => {
                    connection.idleTimer = null;
                    if (this._owns(connection)) {
                        // A dead connection would take its time to close: give it up now
                        try {
                            connection.socket.close(4000, 'Idle');
                        } catch {
                            // Closing anyway
                        }
                        this._dropped(4000, 'Idle');
                    }
                }, this._idleTimeoutMs);
            }
        }

        /**
         * @private The connection ended (or was given up): forget it at once, without waiting for a closing
         * handshake. Disconnected (or closed, if closing) while the close listeners run, so that a connect()
         * of theirs dials at once; then the backoff
         * @param {number} code @param {string} reason
         */
        _dropped(code, reason) {
            const state = this._state;
            if (!('connection' in state)) {
                return;
            }
            clear(state.connection.idleTimer);
            if (state.name === 'connecting') {
                clear(state.readyTimer);
            } else if (state.name === 'open') {
                clear(state.ackTimer);
            }
            const attempts = state.name === 'connecting' ? state.attempts : 0;
            const willReconnect = wanted(state) && attempts < this._backoff.maxAttempts;
            /** @type {Closed | Disconnected} */
            const next = wanted(state) ? {name: 'disconnected'} : {name: 'closed'};
            this._state = next;
            this._emit('close', {code, reason, willReconnect});
            if (willReconnect) {
                this._backOff(next, attempts, code === CLOSE_GOING_AWAY || code === CLOSE_SERVICE_RESTART);
            }
        }

        /**
         * @private Disconnected -> waiting, unless the listeners that were just told connected or closed, or the
         * attempts are used up. When the server went away (a restart or a deploy: every client of it reconnects now)
         * the first delay is spread evenly over restartSpreadMs, so that they do not all arrive at once
         * @param {State} disconnected @param {number} attempts @param {boolean} serverLeft
         */
        _backOff(disconnected, attempts, serverLeft) {
            const {initialDelayMs, maxDelayMs, factor, jitter, maxAttempts, restartSpreadMs} = this._backoff;
            if (this._state !== disconnected || attempts >= maxAttempts) {
                return;
            }
            const delay = serverLeft && attempts === 0
                ? initialDelayMs + restartSpreadMs * Math.random()
                : Math.min(maxDelayMs, initialDelayMs * factor ** attempts) * (1 - jitter + 2 * jitter * Math.random());
            /** @type {Waiting} */
            const waiting = {
                name: 'waiting',
                attempts: attempts + 1,
                timer: setTimeout(() => {
                    if (this._state === waiting) {
                        this._dial(waiting.attempts);
                    }
                }, delay),
            };
            this._state = waiting;
        }

        /** @private @param {string} event @param {unknown} value */
        _emit(event, value) {
            for (const listener of (this._listeners[event] || []).slice()) {
                try {
                    listener(value);
                } catch (error) {
                    if (event !== 'error') {
                        setTimeout(() => {
                            throw error;
                        });
                    }
                }
            }
        }

        /** @private @returns {{clientId: string | null, lastSeq: number, legacy: boolean}} */
        _load() {
            try {
                const saved = this._storage ? JSON.parse(this._storage.getItem(this._storageKey) || 'null') : null;
                if (saved && typeof saved.clientId === 'string' && typeof saved.lastSeq === 'number') {
                    return {clientId: saved.clientId, lastSeq: saved.lastSeq, legacy: saved.legacy === true};
                }
            } catch {
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
            } catch {
                // Storage full or disabled: the state lives on in memory
            }
        }
    }

    return MashroomWebSocketClient;
});
