// @ts-check
// The script of the WebSocket test page; plain browser JavaScript on top of the client library.
(function () {
    'use strict';

    /** @param {string} id @returns {HTMLElement} */
    function byId(id) {
        var element = document.getElementById(id);
        if (!element) {
            throw new Error('The page has no #' + id);
        }
        return element;
    }

    /** @param {string} id */
    function button(id) {
        return /** @type {HTMLButtonElement} */ (byId(id));
    }

    /** @param {'incoming' | 'outgoing' | 'event'} kind @param {string} text */
    function log(kind, text) {
        var line = document.createElement('div');
        line.className = kind;
        line.textContent = new Date().toLocaleTimeString() + ' ' + text;
        byId('log').appendChild(line);
    }

    /** @param {'Not connected' | 'Connecting' | 'Connected' | 'Reconnecting'} state */
    function showState(state) {
        byId('state').textContent = state;
        button('connect').disabled = state !== 'Not connected';
        button('disconnect').disabled = state === 'Not connected';
        button('send-greeting').disabled = state !== 'Connected';
    }

    var url = (window.location.protocol === 'https:' ? 'wss:' : 'ws:') + '//' + window.location.host + window.location.pathname;
    var client = new (/** @type {any} */ (window).MashroomWebSocketClient)(url, {storageKey: 'MashroomWebSocketTestPage'});

    client.on('open', function (/** @type {{clientId: string, resumed: boolean}} */ event) {
        byId('client-id').textContent = event.clientId;
        log('event', (event.resumed ? 'Resumed client ' : 'Connected as new client ') + event.clientId);
        showState('Connected');
    });
    client.on('reset', function (/** @type {{clientId: string, previousClientId: string}} */ event) {
        log('event', 'The server could not resume client ' + event.previousClientId + ': starting afresh');
    });
    client.on('message', function (/** @type {unknown} */ payload) {
        log('incoming', 'Received: ' + JSON.stringify(payload));
    });
    client.on('close', function (/** @type {{code: number, reason: string, willReconnect: boolean}} */ event) {
        log('event', 'Connection closed, code ' + event.code + (event.reason ? ', reason: ' + event.reason : '') +
            (event.code === 1012 ? ' (the server restarts and keeps this client for a resume)' : '') +
            (event.willReconnect ? '; reconnecting' : ''));
        showState(event.willReconnect ? 'Reconnecting' : 'Not connected');
    });
    client.on('error', function (/** @type {Error} */ error) {
        log('event', 'Error: ' + error.message);
    });

    button('connect').addEventListener('click', function () {
        log('event', 'Connecting to ' + url + (client.clientId ? ' as client ' + client.clientId : ''));
        showState('Connecting');
        client.connect();
    });
    button('disconnect').addEventListener('click', function () {
        client.close();
    });
    button('send-greeting').addEventListener('click', function () {
        var message = {greetings: 'Hello Server!'};
        client.send(message);
        log('outgoing', 'Sent: ' + JSON.stringify(message));
    });
    if (client.clientId) {
        byId('client-id').textContent = client.clientId;
    }
    showState('Not connected');
}());
