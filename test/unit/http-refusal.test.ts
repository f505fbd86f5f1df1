import {createServer, request} from 'http';
import type {AddressInfo} from 'net';
import {refuseUpgrade} from '../../src/webapp/http-refusal';

describe('refuseUpgrade', () => {
    it('answers with the status, a reason and a body, and closes the connection', async () => {
        const server = createServer();
        server.on('upgrade', (req, socket) => refuseUpgrade(socket, 503, 'Too many connections'));
        await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
        const {port} = server.address() as AddressInfo;
        try {
            const answer = await new Promise<{status: number; message: string; body: string; closed: Promise<void>}>((resolve, reject) => {
                const req = request({port, host: '127.0.0.1', headers: {connection: 'Upgrade', upgrade: 'websocket'}});
                req.on('response', (response) => {
                    let body = '';
                    response.on('data', (chunk) => {
                        body += chunk;
                    });
                    const closed = new Promise<void>((done) => response.socket.once('close', () => done()));
                    response.on('end', () => resolve({status: response.statusCode ?? 0, message: response.statusMessage ?? '', body, closed}));
                });
                req.on('error', reject);
                req.end();
            });
            expect(answer).toMatchObject({status: 503, message: 'Service Unavailable', body: '503 Service Unavailable: Too many connections\n'});
            await answer.closed;
        } finally {
            server.closeAllConnections();
            await new Promise((resolve) => server.close(resolve));
        }
    });
});
