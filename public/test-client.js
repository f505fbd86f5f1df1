// The script of the WebSocket test page; plain browser JavaScript, no build step.
(function () {
    'use strict';

    var CLIENT_ID_KEY = 'MashroomWebSocketTestPageClientId';
    var socket = null;

    function byId(id) {
        return document.getElementById(id);
    }

    function log(kind, text) {
        var line = document.createElement('div');
        line.className = kind;
        line.textContent = new Date().toLocaleTimeString() + ' ' + text;
        byId('log').appendChild(line);
    }

    function showState(state) {
        byId('state').textContent = state;
        var connected = state === 'Connected';
        byId('connect').disabled = state !== 'Not connected';
        byId('disconnect').disabled = !connected;
        byId('send-greeting').disabled = !connected;
    }

    function storedClientId() {
        try {
            return window.sessionStorage.getItem(CLIENT_ID_KEY);
        } catch (e) {
            return null;
        }
    }

    function storeClientId(clientId) {
        byId('client-id').textContent = clientId;
        try {
            window.sessionStorage.setItem(CLIENT_ID_KEY, clientId);
        } catch (e) {
            // Storage may be disabled; the id is then only kept for this page view
        }
    }

    function connectUrl() {
        var protocol = window.location.protocol === 'https:' ? 'wss:' : 'ws:';
        var clientId = storedClientId();
        return protocol + '//' + window.location.host + window.location.pathname +
            (clientId ? '?clientId=' + encodeURIComponent(clientId) : '');
    }

    function connect() {
        if (socket) {
            return;
        }
        var url = connectUrl();
        log('event', 'Connecting to ' + url);
        showState('Connecting');
        socket = new WebSocket(url);
        socket.onopen = function () {
            log('event', 'Connected');
            showState('Connected');
        };
        socket.onmessage = function (event) {
            log('incoming', 'Received: ' + String(event.data));
            var message;
            try {
                message = JSON.parse(String(event.data));
            } catch (e) {
                log('event', 'Not JSON: ' + e.message);
                return;
            }
            if (message && message.type === 'setClientId' && typeof message.payload === 'string') {
                storeClientId(message.payload);
            }
        };
        socket.onclose = function (event) {
            log('event', 'Connection closed, code ' + event.code + (event.reason ? ', reason: ' + event.reason : ''));
            socket = null;
            showState('Not connected');
        };
        socket.onerror = function () {
            log('event', 'Connection error');
        };
    }

    function disconnect() {
        if (socket) {
            socket.close(1000, 'Closed on the test page');
        }
    }

    function sendGreeting() {
        if (socket && socket.readyState === WebSocket.OPEN) {
            var message = JSON.stringify({greetings: 'Hello Server!'});
            socket.send(message);
            log('outgoing', 'Sent: ' + message);
        }
    }

    byId('connect').addEventListener('click', connect);
    byId('disconnect').addEventListener('click', disconnect);
    byId('send-greeting').addEventListener('click', sendGreeting);
    var known = storedClientId();
    if (known) {
        byId('client-id').textContent = known;
    }
    showState('Not connected');
}());
