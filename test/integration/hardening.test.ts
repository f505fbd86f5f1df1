import {existsSync} from 'fs';
import {readdir, readFile, rm} from 'fs/promises';
import {connect as tcpConnect} from 'net';
import type {Socket} from 'net';
import {hostname, tmpdir} from 'os';
import {join} from 'path';
import {startTestServer} from '../helpers/test-server';
import type {TestServer} from '../helpers/test-server';
import {refusedStatus, TestClient} from '../helpers/test-client';
import {sessionCookie} from '../helpers/test-plugin-context';
import type {UserKey} from '../helpers/test-plugin-context';
import {tcpSocketOf} from '../helpers/socket-pair';
import {waitFor} from '../helpers/wait';
import WebSocket from 'ws';
import type {MashroomWebSocketClient} from '../../type-definitions';
import type {ServerClient} from '../../src/client/server-client';
import {DELIVERY_PROTOCOL} from '../../src/protocol/wire';
import {LEASE_STALE_MS} from '../../src/buffer/folder-lock';

const rawSocket = (client: TestClient): Socket => tcpSocketOf(client.socket);

describe('hardening', () => {
    let server: TestServer;
    const clients: Array<TestClient> = [];
    const connect = async (user: UserKey, path = '/h', headers: Record<string, string> = {}): Promise<{client: TestClient; clientId: string}> => {
        const client = await TestClient.connect(`${server.wsOrigin}/websocket${path}`, user, {headers});
        clients.push(client);
        return {client, clientId: await client.clientId()};
    };
    const onServer = (clientId: string, path = '/h'): MashroomWebSocketClient => {
        const found = server.service.getClientsOnPath(path).find((client) => client.clientId === clientId);
        if (!found) {
            throw new Error(`No client ${clientId}`);
        }
        return found;
    };

    /** A client of the user that has dropped, as the server sees it, waiting for a reconnect */
    const droppedClient = async (user: UserKey): Promise<{clientId: string; target: MashroomWebSocketClient}> => {
        const {client, clientId} = await connect(user);
        const target = onServer(clientId);
        await client.drop();
        await waitFor(() => !target.alive, 'the drop to be noticed');
        return {clientId, target};
    };
    const disconnectedIds = (): Array<string> => {
        const ids: Array<string> = [];
        server.service.addDisconnectListener((client) => {
            ids.push(client.clientId);
        });
        return ids;
    };

    afterEach(async () => {
        await Promise.all(clients.splice(0).map((client) => {
            rawSocket(client).resume();
            return client.close();
        }));
        await server.stop();
    });

    describe('Origin check against cross-site WebSocket hijacking', () => {
        it('admits requests without Origin and from the server\'s own origin', async () => {
            server = await startTestServer();
            await connect('alice');
            await connect('alice', '/h', {origin: server.httpOrigin});
            // Behind a TLS-terminating proxy the scheme differs; the host decides
            await connect('alice', '/h', {origin: `https://127.0.0.1:${server.port}`});
            expect(server.service.getClientCount()).toBe(3);
        });

        it('refuses another origin with 403 before the upgrade, and logs it', async () => {
            server = await startTestServer();
            await expect(refusedStatus(`${server.wsOrigin}/websocket/h`, 'alice', {origin: 'https://evil.example'})).resolves.toBe(403);
            await expect(refusedStatus(`${server.wsOrigin}/websocket/h`, 'alice', {origin: 'null'})).resolves.toBe(403);
            await expect(refusedStatus(`${server.wsOrigin}/websocket/h`, 'alice', {origin: `http://127.0.0.1:${server.port + 1}`})).resolves.toBe(403);
            expect(server.context.log.find('warn', 'from origin https://evil.example')).toHaveLength(1);
            expect(server.context.sessionMiddlewareCalls).toBe(0);
        });

        it('takes the host a trusted proxy forwarded (X-Forwarded-Host) as the server\'s own', async () => {
            server = await startTestServer({config: {trustForwardedHeaders: true}});
            await connect('alice', '/h', {'origin': 'https://portal.example.com', 'x-forwarded-host': 'portal.example.com'});
            await expect(refusedStatus(`${server.wsOrigin}/websocket/h`, 'alice', {
                'origin': 'https://evil.example', 'x-forwarded-host': 'portal.example.com',
            })).resolves.toBe(403);
        });

        it('refuses an evil Origin that brings its own X-Forwarded-Host, unless the proxy is trusted (trustForwardedHeaders)', async () => {
            server = await startTestServer();
            await expect(refusedStatus(`${server.wsOrigin}/websocket/h`, 'alice', {
                'origin': 'https://evil.example', 'x-forwarded-host': 'evil.example',
            })).resolves.toBe(403);
            expect(server.context.log.find('warn', 'from origin https://evil.example')).toHaveLength(1);
            expect(server.service.getClientCount()).toBe(0);
        });

        it('admits the configured origins, and any with "*"', async () => {
            server = await startTestServer({config: {allowedOrigins: ['https://other.example']}});
            await connect('alice', '/h', {origin: 'https://other.example'});
            await expect(refusedStatus(`${server.wsOrigin}/websocket/h`, 'alice', {origin: 'https://evil.example'})).resolves.toBe(403);
            await server.stop();

            server = await startTestServer({config: {allowedOrigins: ['*']}});
            await connect('alice', '/h', {origin: 'https://evil.example'});
        });
    });

    describe('incoming message size', () => {
        it('closes with 1009 on a message over maxMessageSizeBytes and accepts one at the limit', async () => {
            server = await startTestServer({config: {maxMessageSizeBytes: 1024}});
            server.service.addMessageListener(() => true, (message, client) => server.service.sendMessage(client, {length: JSON.stringify(message).length}));
            const {client: fits} = await connect('alice');
            const atLimit = JSON.stringify('x'.repeat(1022));
            expect(Buffer.byteLength(atLimit)).toBe(1024);
            fits.sendRaw(atLimit);
            expect(await fits.nextJson()).toEqual({length: 1024});

            const {client: tooBig} = await connect('bob');
            tooBig.sendRaw(JSON.stringify('x'.repeat(1023)));
            expect((await tooBig.closed).code).toBe(1009);
            await waitFor(() => server.context.log.find('warn', 'larger than maxMessageSizeBytes (1024)').length === 1, 'the log line');
        });

        it('closes as soon as a frame header announces too much, without waiting for the payload', async () => {
            server = await startTestServer({config: {maxMessageSizeBytes: 1024}});
            const {client} = await connect('alice');
            // A masked text frame header announcing 100 MB; no payload follows
            const header = Buffer.alloc(14);
            header[0] = 0x81;
            header[1] = 0x80 | 127;
            header.writeBigUInt64BE(100_000_000n, 2);
            rawSocket(client).write(header);
            expect((await client.closed).code).toBe(1009);
        });

        it('counts the fragments of a message together', async () => {
            server = await startTestServer({config: {maxMessageSizeBytes: 1024}});
            const {client} = await connect('alice');
            client.socket.send('"' + 'x'.repeat(600), {fin: false});
            client.socket.send('y'.repeat(600) + '"', {fin: true});
            expect((await client.closed).code).toBe(1009);
        });
    });

    describe('upgrades that hang or go away', () => {
        it('answers 503 when the authentication takes longer than upgradeTimeoutSec', async () => {
            server = await startTestServer({config: {upgradeTimeoutSec: 0.2}, context: {sessionDelayMs: 60_000}});
            await expect(refusedStatus(`${server.wsOrigin}/websocket/h`, 'alice')).resolves.toBe(503);
            expect(server.context.log.find('error', 'took longer than upgradeTimeoutSec (0.2s)')).toHaveLength(1);
            expect(server.service.getClientCount()).toBe(0);
        });

        it('leaves nothing behind when the client goes away during the authentication', async () => {
            server = await startTestServer({context: {sessionDelayMs: 200}});
            const socket = tcpConnect(server.port, '127.0.0.1');
            await new Promise((resolve) => socket.once('connect', resolve));
            socket.write([
                'GET /websocket/h HTTP/1.1', `Host: 127.0.0.1:${server.port}`, 'Upgrade: websocket', 'Connection: Upgrade',
                'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==', 'Sec-WebSocket-Version: 13', `Cookie: ${sessionCookie('alice')}`, '', '',
            ].join('\r\n'));
            await waitFor(() => server.context.sessionMiddlewareCalls === 1, 'the authentication to start');
            socket.resetAndDestroy();
            await waitFor(() => server.context.log.find('info', 'went away during authentication').length === 1, 'the server to notice');
            expect(server.service.getClientCount()).toBe(0);
            expect(server.context.log.problems()).toEqual([]);
        });
    });

    describe('slow consumers and undelivered messages', () => {
        const MESSAGE = 'm'.repeat(4096);

        /** Sends to the client in turns of 25 messages, as a stream would, until it is closed or `total` are sent */
        const stream = async (target: MashroomWebSocketClient, total: number, onSettled: (n: number, delivered: boolean, alive: boolean) => void) => {
            const sends: Array<Promise<void>> = [];
            for (let n = 0; n < total && server.service.getClientsOnPath('/h').includes(target) && target.alive; n++) {
                sends.push(server.service.sendMessage(target, {n, MESSAGE}).then(
                    () => onSettled(n, true, target.alive),
                    () => onSettled(n, false, target.alive)));
                if (n % 25 === 24) {
                    await new Promise(setImmediate);
                }
            }
            await Promise.all(sends);
            return sends.length;
        };

        it('closes a client that does not read once its backlog passes maxUnsentBytesPerClient (default 256 KiB)', async () => {
            server = await startTestServer();
            const disconnected = disconnectedIds();
            const {client, clientId} = await connect('alice');
            rawSocket(client).pause();
            const outcomes: Array<boolean> = [];
            const sent = await stream(onServer(clientId), 20_000, (n, delivered) => {
                outcomes[n] = delivered;
            });
            expect(sent).toBeLessThan(20_000);
            expect(server.context.log.find('warn', 'more than maxUnsentBytesPerClient (262144): closing it as too slow (1013)')).toHaveLength(1);
            await waitFor(() => disconnected.length === 1, 'the client to be removed');
            expect(disconnected).toEqual([clientId]);
            // Without buffering, what could not be written is refused, not dropped silently: a suffix of the sends
            const firstRefused = outcomes.indexOf(false);
            expect(firstRefused).toBeGreaterThan(0);
            expect(outcomes.slice(firstRefused).every((delivered) => !delivered)).toBe(true);
        }, 20_000);

        it('does not take a burst within one turn for slowness', async () => {
            server = await startTestServer();
            const {client, clientId} = await connect('alice');
            const target = onServer(clientId);
            // 2 MiB in one synchronous loop, far more than maxUnsentBytesPerClient, to a client that reads
            const sends = Array.from({length: 512}, (_, n) => server.service.sendMessage(target, {n, MESSAGE}));
            await Promise.all(sends);
            for (let n = 0; n < 512; n++) {
                expect((await client.nextJson() as {n: number}).n).toBe(n);
            }
            expect(server.context.log.find('warn', 'too slow')).toEqual([]);
        });

        it('with buffering, a client that stops reading resumes with every message it did not read, in order', async () => {
            server = await startTestServer({config: {reconnectMessageBufferFolder: 'buffer', reconnectMessageBufferMaxBytes: 64 * 1024 * 1024}});
            const {client, clientId} = await connect('alice');
            // From here on the client reads nothing: everything sent to it sits in buffers and never arrives
            rawSocket(client).pause();
            const target = onServer(clientId);
            const sent = await stream(target, 2000, (n, delivered) => {
                expect(delivered).toBe(true);
            });
            expect(server.context.log.find('warn', 'closing it as too slow (1013)')).toHaveLength(1);
            await waitFor(() => !target.alive, 'the drop to be noticed');

            const resumed = await connect('alice', `/h?clientId=${clientId}`);
            expect(resumed.clientId).toBe(clientId);
            // What the operating system had taken but the client never read comes again: all of it, in order
            for (let n = 0; n < sent; n++) {
                expect((await resumed.client.nextJson() as {n: number}).n).toBe(n);
            }
        }, 20_000);

        it('closes a client that stalls during a large replay while more is sent, while everything still fits into its buffer', async () => {
            server = await startTestServer({config: {reconnectMessageBufferFolder: 'buffer'}});
            const {client, clientId} = await connect('alice');
            const target = onServer(clientId);
            await client.drop();
            await waitFor(() => !target.alive, 'the drop to be noticed');
            // 750 KB wait for it in a 1 MiB buffer
            const big = 'r'.repeat(250_000);
            for (let n = 1; n <= 3; n++) {
                await server.service.sendMessage(target, {n, big});
            }
            // It resumes, but reads nothing: neither the replay nor what follows
            const resumed = await TestClient.connect(`${server.wsOrigin}/websocket/h?clientId=${clientId}`, 'alice');
            clients.push(resumed);
            rawSocket(resumed).pause();
            await waitFor(() => target.alive, 'the resume');
            // The server checks 50 ms after a send: it pings (or closes)
            const serverSocket = (target as ServerClient).connection?.socket as WebSocket;
            let pings = 0;
            const ping = serverSocket.ping.bind(serverSocket);
            serverSocket.ping = (...args: Parameters<WebSocket['ping']>) => {
                pings++;
                ping(...args);
            };
            const closing = () => server.context.log.find('warn', 'closing it as too slow').length > 0;
            await waitFor(() => pings === 1, 'the check after the replay');
            // 50 KB at a time, each after the check of the one before: the limit beyond the replay has shrunk to an
            // eighth of the buffer (128 KiB), so it is closed before what it has not read outgrows the buffer
            let sent = 0;
            while (!closing() && sent < 10) {
                sent++;
                void server.service.sendMessage(target, {n: 100 + sent, more: 'm'.repeat(50_000)}).catch(() => undefined);
                await waitFor(() => pings === 1 + sent || closing(), 'the check after the send');
            }
            expect(server.context.log.find('warn', 'bytes sent and not read, more than would fit into its reconnect buffer')).toHaveLength(1);
            // Everything it was sent still fits: it resumes with all of it, in order
            await waitFor(() => !target.alive, 'the close');
            const again = await connect('alice', `/h?clientId=${clientId}`);
            expect(again.clientId).toBe(clientId);
            for (const n of [1, 2, 3, ...Array.from({length: sent}, (_, index) => 101 + index)]) {
                expect((await again.client.nextJson() as {n: number}).n).toBe(n);
            }
        }, 20_000);

        it('with the default buffer, a client that stalls with more in flight than its buffer takes is given up, not replayed in part', async () => {
            server = await startTestServer({config: {reconnectMessageBufferFolder: 'buffer'}});
            const disconnected = disconnectedIds();
            const {client, clientId} = await connect('alice');
            rawSocket(client).pause();
            const target = onServer(clientId);
            // 8 MiB in flight: more than the 1 MiB reconnect buffer can take
            await stream(target, 2000, () => undefined);
            await waitFor(() => disconnected.length === 1, 'the client to be given up');
            expect(disconnected).toEqual([clientId]);
            expect(server.context.log.find('warn', 'cannot resume in full')).toHaveLength(1);
            const again = await connect('alice', `/h?clientId=${clientId}`);
            expect(again.clientId).not.toBe(clientId);
        }, 20_000);

        describe('clients of the delivery protocol, which acknowledge explicitly', () => {
            const BIG = 'b'.repeat(300_000);
            /** A raw client of the protocol: reads at once, acknowledges only when told */
            const sequencedClient = async (): Promise<{client: TestClient; target: MashroomWebSocketClient; pings: () => number}> => {
                const client = await TestClient.connect(`${server.wsOrigin}/websocket/h`, 'alice', {}, [DELIVERY_PROTOCOL]);
                clients.push(client);
                const clientId = await client.clientId();
                let pings = 0;
                client.socket.on('ping', () => pings++);
                return {client, target: onServer(clientId), pings: () => pings};
            };
            const ack = (client: TestClient, seq: number) => client.send({type: 'ack', seq});

            it('keeps a client that reads but acknowledges a while later, as the client library does', async () => {
                server = await startTestServer({config: {reconnectMessageBufferFolder: 'buffer'}});
                const {client, target, pings} = await sequencedClient();
                // 600 KB read, before any acknowledgement: more than a client that does not read may have in flight
                for (let n = 1; n <= 2; n++) {
                    await server.service.sendMessage(target, {n, BIG});
                    await client.nextJson();
                    // The server asks how far it has read; the client's WebSocket answers
                    await waitFor(() => pings() === n, 'the ping');
                }
                ack(client, 2);
                await server.service.sendMessage(target, {n: 3});
                expect(await client.nextJson()).toMatchObject({seq: 3});
                expect(server.context.log.find('warn', 'too slow')).toEqual([]);
            });

            it('closes a client that reads but does not acknowledge before its messages outgrow the buffer', async () => {
                server = await startTestServer({config: {reconnectMessageBufferFolder: 'buffer'}});
                const {client, target, pings} = await sequencedClient();
                let closed = false;
                void client.closed.then(() => {
                    closed = true;
                });
                let sent = 0;
                while (sent < 10 && !closed) {
                    sent++;
                    await server.service.sendMessage(target, {n: sent, BIG});
                    await client.nextJson();
                    // The server checks after each send: it pings, or it closes
                    await waitFor(() => pings() === sent || closed, 'the check');
                }
                expect((await client.closed).code).toBe(1013);
                // 768 KiB (the buffer less maxUnsentBytesPerClient) is the most it may leave unacknowledged
                expect(sent).toBe(3);
                expect(server.context.log.find('warn', 'bytes sent and not acknowledged, more than would fit into its reconnect buffer')).toHaveLength(1);
            });

            it('does not count the replay of a resume against a client that has not acknowledged it yet', async () => {
                server = await startTestServer({config: {reconnectMessageBufferFolder: 'buffer'}});
                const {client, target} = await sequencedClient();
                await client.drop();
                await waitFor(() => !target.alive, 'the drop to be noticed');
                // 900 KB waits for it: more than it may leave unacknowledged of what is sent while it is connected
                for (let n = 1; n <= 3; n++) {
                    await server.service.sendMessage(target, {n, BIG});
                }
                const resumed = await TestClient.connect(`${server.wsOrigin}/websocket/h?clientId=${target.clientId}&lastSeq=0`, 'alice', {}, [DELIVERY_PROTOCOL]);
                clients.push(resumed);
                let pings = 0;
                resumed.socket.on('ping', () => pings++);
                let closed = false;
                void resumed.closed.then(() => {
                    closed = true;
                });
                expect(await resumed.clientId()).toBe(target.clientId);
                for (let n = 1; n <= 3; n++) {
                    expect(await resumed.nextJson()).toMatchObject({seq: n});
                }
                // The server asks how far it has read (it used to close it here instead), and again after a send
                await waitFor(() => pings === 1 || closed, 'the check after the replay');
                await server.service.sendMessage(target, {n: 4});
                expect(await resumed.nextJson()).toMatchObject({seq: 4});
                await waitFor(() => pings === 2 || closed, 'the check after the send');
                expect(closed).toBe(false);
                ack(resumed, 4);
                await server.service.sendMessage(target, {n: 5});
                expect(await resumed.nextJson()).toMatchObject({seq: 5});
                expect(server.context.log.find('warn', 'too slow')).toEqual([]);
            });
        });

        it('does not hold messages without bound for a peer that closes but does not read', async () => {
            server = await startTestServer();
            const {client, clientId} = await connect('alice');
            const target = onServer(clientId);
            // A masked close frame (1000), then nothing is read any more
            rawSocket(client).write(Buffer.from([0x88, 0x82, 0, 0, 0, 0, 0x03, 0xe8]));
            rawSocket(client).pause();
            await waitFor(() => (target as ServerClient).connection?.socket.readyState === WebSocket.CLOSING, 'the server to answer the close');
            const outcomes = await Promise.allSettled(Array.from({length: 200}, (_, n) => server.service.sendMessage(target, {n, MESSAGE})));
            // Cut off as soon as more than maxUnsentBytesPerClient is held, not only when the close times out
            expect(server.context.log.find('warn', 'is closing but more than maxUnsentBytesPerClient (262144) is held for it')).toHaveLength(1);
            // Everything held is refused (no buffering)
            expect(outcomes.every((outcome) => outcome.status === 'rejected')).toBe(true);
            expect(server.service.getClientCount()).toBe(0);
        });
    });

    describe('bounded reconnect buffer', () => {
        it('warns at start when a client closed as too slow might not fit into its buffer, only with buffering on', async () => {
            const warning = 'is more than a quarter of reconnectMessageBufferMaxBytes';
            server = await startTestServer({config: {maxUnsentBytesPerClient: 300_000}});
            expect(server.context.log.find('warn', warning)).toHaveLength(0);
            await server.stop();
            server = await startTestServer({config: {maxUnsentBytesPerClient: 300_000, reconnectMessageBufferFolder: 'buffer'}});
            expect(server.context.log.find('warn', warning)).toHaveLength(1);
            await server.stop();
            server = await startTestServer({config: {reconnectMessageBufferFolder: 'buffer'}});
            expect(server.context.log.find('warn', warning)).toHaveLength(0);
        });

        it('gives up a client whose buffer would overflow: no partial replay, a fresh clientId, the file removed', async () => {
            server = await startTestServer({config: {reconnectMessageBufferFolder: 'buffer', reconnectMessageBufferMaxBytes: 1000}});
            const disconnected = disconnectedIds();
            const {clientId, target} = await droppedClient('alice');
            const message = (n: number) => ({n, text: 'x'.repeat(180)});
            // Four messages of about 200 bytes fit into 1000 bytes, the fifth does not
            await Promise.all([0, 1, 2, 3].map((n) => server.service.sendMessage(target, message(n))));
            const outcomes = await Promise.allSettled([4, 5, 6].map((n) => server.service.sendMessage(target, message(n))));
            outcomes.forEach((outcome) => expect(outcome).toEqual({status: 'rejected', reason: expect.objectContaining({
                message: expect.stringContaining('would exceed reconnectMessageBufferMaxBytes (1000)'),
            })}));
            await waitFor(() => disconnected.length === 1, 'the client to be given up');
            expect(server.context.log.find('warn', 'cannot resume in full')).toHaveLength(1);
            await waitFor(() => !existsSync(join(server.rootFolder, 'buffer', `${clientId}.ndjson`)), 'the file to be removed');

            const again = await connect('alice', `/h?clientId=${clientId}`);
            expect(again.clientId).not.toBe(clientId);
            const [fresh] = server.service.getClientsOfUser('alice');
            await server.service.sendMessage(fresh, {marker: true});
            expect(await again.client.nextJson()).toEqual({marker: true});
        });

        it('recreates the buffer folder if it disappears while running', async () => {
            server = await startTestServer({config: {reconnectMessageBufferFolder: 'buffer'}});
            await rm(join(server.rootFolder, 'buffer'), {recursive: true});
            const {clientId, target} = await droppedClient('alice');
            await server.service.sendMessage(target, {kept: true});
            expect((await readdir(join(server.rootFolder, 'buffer'))).filter((file) => file.endsWith('.ndjson'))).toEqual([`${clientId}.ndjson`]);
            const resumed = await connect('alice', `/h?clientId=${clientId}`);
            expect(await resumed.client.nextJson()).toEqual({kept: true});
        });
    });

    describe('buffers lost or shared', () => {
        it('does not replay part of a buffer: a buffer deleted while the client waits makes the resume start afresh', async () => {
            server = await startTestServer({config: {reconnectMessageBufferFolder: 'buffer'}});
            const disconnected = disconnectedIds();
            const {clientId, target} = await droppedClient('alice');
            await server.service.sendMessage(target, {n: 1});
            await server.service.sendMessage(target, {n: 2});
            await rm(join(server.rootFolder, 'buffer'), {recursive: true});

            const resumed = await connect('alice', `/h?clientId=${clientId}`);
            expect(resumed.clientId).not.toBe(clientId);
            expect(disconnected).toEqual([clientId]);
            expect(server.context.log.find('warn', `Client ${clientId} cannot resume (its reconnect buffer is incomplete`)).toHaveLength(1);
            const [fresh] = server.service.getClientsOfUser('alice');
            await server.service.sendMessage(fresh, {marker: true});
            expect(await resumed.client.nextJson()).toEqual({marker: true});
        });

        it('gives a client up when its buffer is deleted and more messages come (no gap)', async () => {
            server = await startTestServer({config: {reconnectMessageBufferFolder: 'buffer'}});
            const {clientId, target} = await droppedClient('alice');
            await server.service.sendMessage(target, {n: 1});
            await rm(join(server.rootFolder, 'buffer', `${clientId}.ndjson`));
            await expect(server.service.sendMessage(target, {n: 2})).rejects.toThrow('was lost');
            await waitFor(() => server.service.getClientCount() === 0, 'the client to be given up');
        });

        it('bounds all buffers together by reconnectMessageBufferMaxTotalBytes', async () => {
            server = await startTestServer({config: {reconnectMessageBufferFolder: 'buffer', reconnectMessageBufferMaxTotalBytes: 1000}});
            const first = await connect('alice');
            const second = await connect('bob');
            const [a, b] = [onServer(first.clientId), onServer(second.clientId)];
            await Promise.all([first.client.drop(), second.client.drop()]);
            await waitFor(() => !a.alive && !b.alive, 'the drops to be noticed');
            await server.service.sendMessage(a, {text: 'x'.repeat(600)});
            await expect(server.service.sendMessage(b, {text: 'y'.repeat(600)})).rejects.toThrow('the total of all buffers (1000 bytes)');
            await waitFor(() => server.service.getClientCount() === 1, 'the second client to be given up');
            // Giving a client up returns its share
            const resumed = await connect('alice', `/h?clientId=${first.clientId}`);
            expect(await resumed.client.nextJson()).toEqual({text: 'x'.repeat(600)});
        });

        it('waits for a buffer folder whose lease another process renews, of this host or another, leaving their files alone', async () => {
            server = await startTestServer({config: {reconnectMessageBufferFolder: 'buffer'}});
            const {writeFile: write} = await import('fs/promises');
            const {hostname} = await import('os');
            const folder = join(server.rootFolder, 'buffer');
            const theirs = '00000000-0000-4000-8000-000000000000.ndjson';
            await write(join(folder, theirs), '"theirs"\n');
            // Another process of this host holds the lock (pid 1 always runs): it may be stopping, so this one waits
            await write(join(folder, '.owner.json'), JSON.stringify({pid: 1, hostname: hostname(), token: 'other'}));
            const second = await startTestServer({config: {reconnectMessageBufferFolder: folder}});
            try {
                expect(second.context.log.find('warn', `Reconnect message buffering waits for the folder ${folder}`)).toHaveLength(1);
                expect(second.context.log.find('error', 'Reconnect message buffering is off')).toHaveLength(0);
                expect(second.server.bufferingEnabled).toBe(false);
                expect((await readdir(folder)).sort()).toEqual(['.owner.json', theirs]);
            } finally {
                await second.stop();
            }
            // A process of another host (a second pod on a shared volume) whose lease is fresh: waited for as well
            await write(join(folder, '.owner.json'), JSON.stringify({pid: 1, hostname: 'another-host', token: 'other'}));
            const third = await startTestServer({config: {reconnectMessageBufferFolder: folder}});
            try {
                expect(third.context.log.find('warn', `Reconnect message buffering waits for the folder ${folder}`)).toHaveLength(1);
                expect(third.server.bufferingEnabled).toBe(false);
                expect(third.server.bufferStorePending).toBe(true);
                expect((await readdir(folder)).sort()).toEqual(['.owner.json', theirs]);
            } finally {
                await third.stop();
            }
        });

        it.each([
            ['another host (a re-created container or pod)', 'another-host', 1],
            ['this host, its pid now used by another process', hostname(), 1],
        ])('takes over the lock of a killed process on %s once its lease is stale', async (_where, host, pid) => {
            const {mkdtemp, utimes, writeFile: write} = await import('fs/promises');
            const folder = await mkdtemp(join(tmpdir(), 'mashroom-websocket-lease-'));
            try {
                const left = '00000000-0000-4000-8000-000000000000.ndjson';
                await write(join(folder, left), '"left by the killed process"\n');
                await write(join(folder, '.owner.json'), JSON.stringify({pid, hostname: host, token: 'killed'}));
                // Its last renewal: more than three renewals ago
                const lastRenewed = new Date(Date.now() - LEASE_STALE_MS - 1000);
                await utimes(join(folder, '.owner.json'), lastRenewed, lastRenewed);
                server = await startTestServer({config: {reconnectMessageBufferFolder: folder}});
                expect(server.server.bufferingEnabled).toBe(true);
                expect(server.context.log.problems()).toEqual([]);
                // Ours now; what the killed process left (no drain) is removed
                expect(JSON.parse(await readFile(join(folder, '.owner.json'), 'utf8'))).toMatchObject({pid: process.pid, hostname: hostname()});
                expect(await readdir(folder)).toEqual(['.owner.json']);
            } finally {
                await server.stop();
                await rm(folder, {recursive: true, force: true});
            }
        });

        it('takes over the lock of a process that is gone, and releases its own at unload', async () => {
            const {mkdtemp, writeFile: write} = await import('fs/promises');
            const {tmpdir, hostname} = await import('os');
            const folder = await mkdtemp(join(tmpdir(), 'mashroom-websocket-lock-'));
            // A pid that does not run
            await write(join(folder, '.owner.json'), JSON.stringify({pid: 2 ** 22 + 1, hostname: hostname(), token: 'dead'}));
            server = await startTestServer({config: {reconnectMessageBufferFolder: folder}});
            expect(server.server.bufferingEnabled).toBe(true);
            await server.unloadPlugins();
            expect(await readdir(folder)).toEqual([]);
            await rm(folder, {recursive: true, force: true});
        });
    });

    describe('what a logged-in client sends', () => {
        it('logs a few lines for a client that floods with frames nobody can read, and serves another user meanwhile', async () => {
            // Rate limits out of the way: only the log is under test here
            server = await startTestServer({config: {incomingMessagesPerSec: 1_000_000, incomingMessagesBurst: 1_000_000}});
            const {client, clientId} = await connect('alice');
            for (let n = 0; n < 5000; n++) {
                client.socket.send(n % 2 ? 'not json' : Buffer.from([n % 256]));
            }
            const marker = await connect('alice', '/h');
            marker.client.send({after: 'the flood'});
            await waitFor(() => server.context.log.find('warn', `No message listener takes the message of client ${marker.clientId}`).length === 1, 'the marker, after the flood');
            const ofFlooder = server.context.log.entries.filter((entry) => entry.level === 'warn' && entry.message.includes(clientId));
            expect(ofFlooder).toHaveLength(3);
            expect(ofFlooder[2].message).toContain('(further such lines of this client are only counted)');
            const bob = await connect('bob');
            expect(bob.clientId).toEqual(expect.any(String));
        });

        it('closes a client that sends faster than the rate and its burst allow with 1008, logged once; a normal one stays', async () => {
            server = await startTestServer({config: {incomingMessagesPerSec: 50, incomingMessagesBurst: 200}});
            const calm = await connect('bob');
            const {client, clientId} = await connect('alice');
            for (let n = 0; n < 1000; n++) {
                client.socket.send(JSON.stringify({n}));
            }
            expect(await client.closed).toMatchObject({code: 1008});
            expect(server.context.log.find('warn', `Client ${clientId} sends more than 50 messages per second (beyond a burst of 200): closing it (1008) (user alice, connect path /h)`)).toHaveLength(1);
            // Closed for good: no resume
            expect(server.service.getClientsOfUser('alice')).toEqual([]);
            for (let n = 0; n < 20; n++) {
                calm.client.send({n});
            }
            await waitFor(() => server.context.log.find('warn', `No message listener takes the message of client ${calm.clientId}`).length >= 1, 'the calm client\'s messages');
            expect(calm.client.socket.readyState).toBe(WebSocket.OPEN);
        });

        it('closes a client that sends a message in more than 1000 fragments with 1008, logged once; one in a few fragments arrives', async () => {
            server = await startTestServer({config: {reconnectMessageBufferFolder: 'buffer'}});
            const received: Array<unknown> = [];
            server.service.addMessageListener((path) => path === '/h', (message) => {
                received.push(message);
            });
            const calm = await connect('bob');
            const parts = ['{"in":', '"five', ' frag', 'ments"', '}'];
            parts.forEach((part, index) => calm.client.socket.send(part, {fin: index === parts.length - 1}));
            await waitFor(() => received.length === 1, 'the message in fragments');
            expect(received).toEqual([{in: 'five fragments'}]);

            const {client, clientId} = await connect('alice');
            // Empty fragments of one message that never ends: nothing counts towards maxMessageSizeBytes
            for (let n = 0; n < 1500; n++) {
                client.socket.send('', {fin: false});
            }
            expect(await client.closed).toMatchObject({code: 1008});
            expect(server.context.log.find('warn', `Closing client ${clientId} with 1008: it sent a message in more than 1000 fragments (user alice, connect path /h)`)).toHaveLength(1);
            // Closed for good, although a reconnect buffer is configured: no resume
            expect(server.service.getClientsOfUser('alice')).toEqual([]);
            expect(calm.client.socket.readyState).toBe(WebSocket.OPEN);
        });
    });

    describe('maxConnectionsPerUser', () => {
        it('keeps one user who connects and drops again and again from locking the others out', async () => {
            // The default of 20 per user, and a server with room for 30
            server = await startTestServer({config: {maxConnections: 30, reconnectMessageBufferFolder: 'buffer'}});
            for (let round = 0; round < 40; round++) {
                const {client, clientId} = await connect('alice');
                await client.drop();
                await waitFor(() => !onServer(clientId).alive, 'the drop to be noticed');
            }
            // Her own limit holds, counting the clients that wait: each new one went before the one waiting longest
            expect(server.service.getClientsOfUser('alice')).toHaveLength(20);
            expect(server.context.log.find('info', 'to make room for a connection of user alice')).toHaveLength(20);
            // And everybody else gets in
            for (let other = 0; other < 10; other++) {
                await connect('bob');
            }
            expect(server.service.getClientCount()).toBe(30);
        });

        it('refuses a user over the limit with 503, others and resumes still get in', async () => {
            server = await startTestServer({config: {maxConnectionsPerUser: 2, reconnectMessageBufferFolder: 'buffer'}});
            await connect('alice');
            const {client, clientId} = await connect('alice');
            await expect(refusedStatus(`${server.wsOrigin}/websocket/h`, 'alice')).resolves.toBe(503);
            expect(server.context.log.find('warn', 'maxConnectionsPerUser (2) reached')).toHaveLength(1);
            await connect('bob');
            await client.drop();
            await waitFor(() => !onServer(clientId).alive, 'the drop to be noticed');
            const resumed = await connect('alice', `/h?clientId=${clientId}`);
            expect(resumed.clientId).toBe(clientId);
        });
    });
});
