import {resolve} from 'path';
import express from 'express';
import type {Application} from 'express';

// Both src/webapp (tests) and dist/webapp (runtime) sit two levels below the package root
export const PUBLIC_FOLDER = resolve(__dirname, '../../public');

/**
 * The webapp's HTTP side: the test page, its script and the client library. `/` redirects to the test page.
 */
export const createExpressApp = (): Application => {
    const app = express();
    app.disable('x-powered-by');
    // The page loads its script relative to its own URL: /test/ would point it (and the connection) elsewhere
    app.enable('strict routing');

    app.get('/', (request, response) => {
        response.redirect(`${request.baseUrl}/test`);
    });
    app.get('/test/', (request, response) => {
        response.redirect(`${request.baseUrl}/test`);
    });
    app.get('/test', (request, response) => {
        response.sendFile('test.html', {root: PUBLIC_FOLDER});
    });
    for (const script of ['test-client.js', 'mashroom-websocket-client.js']) {
        app.get(`/${script}`, (request, response) => {
            response.type('application/javascript');
            response.sendFile(script, {root: PUBLIC_FOLDER});
        });
    }
    return app;
};
