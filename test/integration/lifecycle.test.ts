import {existsSync} from 'fs';
import {readdir, readFile} from 'fs/promises';
import {join} from 'path';
import {FileReconnectBufferStore} from '../../src/buffer/file-reconnect-buffer-store';
import {startTestServer} from '../helpers/test-server';
import type {TestServer} from '../helpers/test-server';
import {refusedStatus, TestClient} from '../helpers/test-client';
import {waitFor} from '../helpers/wait';
import type {MashroomWebSocketClient} from '../../type-definitions';
import {METRICS_COLLECTOR_PLUGIN} from '../../src/metrics/connection-metrics';

type Gauge = {name: string; help: string; value: number | null};

/** Stands in for @mashroom/mashroom-monitoring-metrics-collector, which the npm registry here does not have */
const fakeMetricsCollector = () => {
    const callbacks = new Set<(collector: {gauge(name: string, help: string): {set(value: number): void}}) => void>();
    return {
        callbacks,
        service: {
            addObservableCallback: async (callback: (collector: {gauge(name: string, help: string): {set(value: number): void}}) => void) => {
                callbacks.add(callback);
                return {removeCallback: () => callbacks.delete(callback)};
            },
        },
        /** What a metrics export would read now */
        observe(): Array<Gauge> {
            const gauges: Array<Gauge> = [];
            callbacks.forEach((callback) => callback({
                gauge: (name, help) => {
                    const gauge: Gauge = {name, help, value: null};
                    gauges.push(gauge);
                    return {set: (value: number) => {
                        gauge.value = value;
                    }};
                },
            }));
            return gauges;
        },
    };
};

describe('closing clients, unloading the plugins, metrics', () => {
    let server: TestServer;
    const clients: Array<TestClient> = [];
    const connect = async (user: 'alice' | 'bob', path = '/life', query = ''): Promise<TestClient> => {
        const client = await TestClient.connect(`${server.wsOrigin}/websocket${path}${query}`, user);
        clients.push(client);
        await client.clientId();
        return client;
    };

    afterEach(async () => {
        await Promise.all(clients.splice(0).map((client) => client.close()));
        await server.stop();
    });

    describe('close(client)', () => {
        it('closes with 1000, removes the client at once and calls the disconnect listeners exactly once', async () => {
            server = await startTestServer();
            const disconnected: Array<MashroomWebSocketClient> = [];
            server.service.addDisconnectListener((client) => {
                disconnected.push(client);
            });
            const alice = await connect('alice');
            const bob = await connect('bob');
            const [aliceOnServer] = server.service.getClientsOfUser('alice');

            server.service.close(aliceOnServer);
            expect(server.service.getClientCount()).toBe(1);
            expect(server.service.getClientsOfUser('alice')).toEqual([]);
            expect(disconnected).toEqual([aliceOnServer]);
            expect((await alice.closed).code).toBe(1000);

            // By now the server has seen the socket close too; a round trip on another client proves it
            server.service.addMessageListener(() => true, (message, client) => server.service.sendMessage(client, message));
            bob.send({ping: 1});
            expect(await bob.nextJson()).toEqual({ping: 1});
            expect(disconnected).toHaveLength(1);
            // Closing again is a no-op
            server.service.close(aliceOnServer);
            expect(disconnected).toHaveLength(1);
        });

        it('removes a client that waits for a reconnect, with its buffer file', async () => {
            server = await startTestServer({config: {reconnectMessageBufferFolder: 'buffer'}});
            const disconnected: Array<string> = [];
            server.service.addDisconnectListener((client) => {
                disconnected.push(client.clientId);
            });
            const alice = await connect('alice');
            const [aliceOnServer] = server.service.getClientsOfUser('alice');
            await alice.drop();
            await waitFor(() => !aliceOnServer.alive, 'the drop to be noticed');
            await server.service.sendMessage(aliceOnServer, {buffered: true});
            const file = join(server.rootFolder, 'buffer', `${aliceOnServer.clientId}.ndjson`);
            expect(existsSync(file)).toBe(true);

            server.service.close(aliceOnServer);
            expect(disconnected).toEqual([aliceOnServer.clientId]);
            expect(server.service.getClientCount()).toBe(0);
            await waitFor(() => !existsSync(file), 'the buffer file to be deleted');
        });

        it('ignores what is not one of its clients', async () => {
            server = await startTestServer();
            expect(() => server.service.close({clientId: 'nope'} as unknown as MashroomWebSocketClient)).not.toThrow();
            expect(() => server.service.close(null as unknown as MashroomWebSocketClient)).not.toThrow();
        });
    });

    describe('unload', () => {
        it('closes every client with 1001 without buffering, calls the disconnect listeners and refuses new upgrades', async () => {
            server = await startTestServer();
            const disconnected: Array<string> = [];
            server.service.addDisconnectListener((client) => {
                disconnected.push(client.clientId);
            });
            const alice = await connect('alice');
            const bob = await connect('bob');

            await server.unloadPlugins();
            expect((await alice.closed).code).toBe(1001);
            expect((await bob.closed).code).toBe(1001);
            expect(disconnected).toHaveLength(2);
            expect(server.service.getClientCount()).toBe(0);
            expect(server.context.log.find('info', 'Shutting down the WebSocket server, closing 2 client(s)')).toHaveLength(1);
            await expect(refusedStatus(`${server.wsOrigin}/websocket/life`, 'alice')).resolves.toBe(503);
        });

        it('drains with buffering: keeps every client for a resume, closes with 1012, lets go of them here and refuses new upgrades', async () => {
            server = await startTestServer({config: {reconnectMessageBufferFolder: 'buffer'}});
            const disconnected: Array<string> = [];
            server.service.addDisconnectListener((client) => {
                disconnected.push(client.clientId);
            });
            const alice = await connect('alice');
            const bob = await connect('bob');
            const dropped = await connect('bob', '/dropped');
            const [droppedOnServer] = server.service.getClientsOnPath('/dropped');
            await dropped.drop();
            await waitFor(() => !droppedOnServer.alive, 'the drop to be noticed');
            await server.service.sendMessage(droppedOnServer, {buffered: true});

            await server.unloadPlugins();
            expect((await alice.closed).code).toBe(1012);
            expect((await bob.closed).code).toBe(1012);
            // Gone from this server (another instance or process may resume them)
            expect(disconnected).toHaveLength(3);
            expect(server.service.getClientCount()).toBe(0);
            expect(server.context.log.find('info', 'Drained 3 client(s) into folder')).toHaveLength(1);
            // The snapshot that hands all three on (the connected ones had nothing unacknowledged), and the buffer of
            // the one that waited; the lock is released
            const ids = [alice, bob, dropped].map((client) => (JSON.parse(client.received[0]) as {payload: string}).payload);
            const folder = join(server.rootFolder, 'buffer');
            expect((await readdir(folder)).sort()).toEqual(['.drained.ndjson', `${ids[2]}.ndjson`].sort());
            const snapshot = (await readFile(join(folder, '.drained.ndjson'), 'utf8')).split('\n');
            expect(JSON.parse(snapshot[0])).toMatchObject({format: 'mashroom-websocket-drain', clients: 3});
            expect(snapshot.filter((line) => line.includes('"clientId"')).map((line) => (JSON.parse(line) as {clientId: string}).clientId).sort()).toEqual([...ids].sort());
            await expect(refusedStatus(`${server.wsOrigin}/websocket/life`, 'alice')).resolves.toBe(503);
        });

        it('hands on what it could store when the store is too slow for the drain, says so, and still stops in time', async () => {
            server = await startTestServer({config: {reconnectMessageBufferFolder: 'buffer'}});
            const folder = join(server.rootFolder, 'stalling');
            const store = await FileReconnectBufferStore.open(folder);
            server.server.useBufferStore(store);
            const alice = await connect('alice');
            const bob = await connect('bob');
            const [aliceId, bobId] = [alice, bob].map((client) => (JSON.parse(client.received[0]) as {payload: string}).payload);
            const [bobOnServer] = server.service.getClientsOfUser('bob');
            // Something bob has not acknowledged, so that the drain must store it; the store never finishes that
            let release: () => void = () => undefined;
            const stalled = new Promise<void>((resolve) => {
                release = resolve;
            });
            const append = jest.spyOn(store, 'append').mockImplementation(async function (this: FileReconnectBufferStore, clientId, messages, continuing) {
                if (clientId === bobId) {
                    await stalled;
                }
                return FileReconnectBufferStore.prototype.append.call(this, clientId, messages, continuing);
            });
            const openBuffer = jest.spyOn(store, 'open').mockImplementation(async function (this: FileReconnectBufferStore, clientId, session, ttlMs, messages, continuing) {
                if (clientId === bobId) {
                    await stalled;
                }
                return FileReconnectBufferStore.prototype.open.call(this, clientId, session, ttlMs, messages, continuing);
            });
            try {
                (bob.socket as unknown as {_socket: {pause(): void}})._socket.pause();
                await server.service.sendMessage(bobOnServer, {unacknowledged: true});

                await server.unloadPlugins();
                expect(server.context.log.find('warn', 'The buffers of 1 client(s) were not stored within 5000 ms')).toHaveLength(1);
                expect(server.context.log.find('info', 'Drained 1 client(s) into folder')).toHaveLength(1);
                expect((await alice.closed).code).toBe(1012);
                const snapshot = (await readFile(join(folder, '.drained.ndjson'), 'utf8')).split('\n');
                expect(snapshot.filter((line) => line.includes('"clientId"')).map((line) => (JSON.parse(line) as {clientId: string}).clientId)).toEqual([aliceId]);
            } finally {
                release();
                append.mockRestore();
                openBuffer.mockRestore();
                (bob.socket as unknown as {_socket: {resume(): void}})._socket.resume();
            }
        }, 15_000);

        it('closes with 1001, not 1012, the clients it could not keep: the seal failed, so a reconnect would start afresh', async () => {
            server = await startTestServer({config: {reconnectMessageBufferFolder: 'buffer'}});
            const folder = join(server.rootFolder, 'failing');
            const store = await FileReconnectBufferStore.open(folder);
            server.server.useBufferStore(store);
            const alice = await connect('alice');
            jest.spyOn(store, 'seal').mockRejectedValueOnce(new Error('disk full'));

            await server.unloadPlugins();
            expect((await alice.closed).code).toBe(1001);
            expect(server.context.log.find('error', 'Keeping the drained clients in folder')).toHaveLength(1);
            expect(server.context.log.find('warn', 'The buffers of 1 client(s) were not stored within 5000 ms')).toHaveLength(1);
            // Nothing is left that a later process would take up
            expect(existsSync(join(folder, '.drained.ndjson'))).toBe(false);
        });

        it('cuts off a client that does not complete the closing handshake', async () => {
            server = await startTestServer();
            const stubborn = await connect('alice');
            // A peer that never answers the close frame: stop reading from its socket
            (stubborn.socket as unknown as {_socket: {pause(): void}})._socket.pause();
            await server.unloadPlugins();
            expect(server.service.getClientCount()).toBe(0);
            expect(server.context.log.find('info', 'Shutting down the WebSocket server, closing 1 client(s)')).toHaveLength(1);
            (stubborn.socket as unknown as {_socket: {resume(): void}})._socket.resume();
            await stubborn.closed;
        });

        it('cancels a pending greeting of the test page', async () => {
            jest.useFakeTimers({doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask', 'Date', 'hrtime', 'performance']});
            try {
                server = await startTestServer();
                const client = await connect('alice', '/test');
                client.send({hello: 1});
                await waitFor(() => server.context.log.find('info', 'Test message from user alice').length === 1, 'the test message');
                await server.unloadPlugins();
                // Had the greeting timer survived, it would now try to greet the closed client and log that
                jest.advanceTimersByTime(5_000);
                expect(jest.getTimerCount()).toBe(0);
                expect(server.context.log.find('info', 'Could not greet')).toEqual([]);
            } finally {
                jest.useRealTimers();
            }
        });
    });

    describe('metrics', () => {
        it('reports the client count as mashroom_websocket_connections_total and removes it on unload', async () => {
            const metrics = fakeMetricsCollector();
            server = await startTestServer({context: {extraServices: {metrics: {service: metrics.service}}}});
            await waitFor(() => metrics.callbacks.size === 1, 'the gauge to be registered');
            await connect('alice');
            await connect('bob');
            expect(metrics.observe()).toEqual([{name: 'mashroom_websocket_connections_total', help: expect.any(String), value: 2}]);
            await server.unloadPlugins();
            expect(metrics.callbacks.size).toBe(0);
        });

        it('registers the gauge when the metrics collector is loaded later', async () => {
            server = await startTestServer();
            const metrics = fakeMetricsCollector();
            await connect('alice');
            server.context.services.metrics = {service: metrics.service};
            server.context.pluginService.fireLoaded(METRICS_COLLECTOR_PLUGIN);
            await waitFor(() => metrics.callbacks.size === 1, 'the gauge to be registered');
            expect(metrics.observe()[0].value).toBe(1);
        });
    });
});
