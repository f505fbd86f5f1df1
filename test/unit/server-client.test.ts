import {mkdtemp, rm} from 'fs/promises';
import {tmpdir} from 'os';
import {join} from 'path';
import type WebSocket from 'ws';
import {BufferBudget} from '../../src/buffer/buffer-budget';
import {WriteGate} from '../../src/buffer/write-gate';
import {MemoryBudget} from '../../src/transport/memory-budget';
import {FileReconnectBufferStore} from '../../src/buffer/file-reconnect-buffer-store';
import type {ReconnectBufferStore} from '../../src/buffer/reconnect-buffer-store';
import type {ClientHost} from '../../src/client/client-host';
import {ServerClient} from '../../src/client/server-client';
import {newClientId} from '../../src/protocol/client-id';
import {Connection} from '../../src/transport/connection';
import type {ClientConnection, ConnectionEnv} from '../../src/transport/client-connection';
import {EndOfTurn} from '../../src/transport/end-of-turn';
import {ClientGoneError} from '../../src/transport/pending-message';
import {TurnBatcher} from '../../src/transport/turn-batcher';
import type {Batched} from '../../src/transport/turn-batcher';
import {WritesSettled} from '../../src/transport/writes-settled';
import {WsAdapter} from '../../src/transport/ws-adapter';
import {RecordingLog} from '../helpers/recording-logger';
import {clientEvents, nextMessage, socketPair, tcpSocketOf, wireOpcodes} from '../helpers/socket-pair';
import type {SocketPair} from '../helpers/socket-pair';
import {USERS} from '../helpers/test-plugin-context';
import {waitFor} from '../helpers/wait';

// Every frame is the first of its turn: each goes out at once
class Unbatched extends TurnBatcher {
    override beforeWrite(connection: Batched): boolean {
        super.beforeWrite(connection);
        return true;
    }
}

/*
 * A client with real connections on real sockets over loopback, and a real file store
 */
describe('ServerClient', () => {
    const log = new RecordingLog();
    const pairs: Array<SocketPair> = [];
    let root: string;
    const closed: Array<ServerClient> = [];

    type HostOptions = {
        readonly writes?: () => TurnBatcher;
        readonly maxUnsentBytes?: number;
        /** A ws version other than the tested one: every frame through ws.send */
        readonly wsVersion?: string;
    };

    const host = (bufferStore: ReconnectBufferStore | null, options: HostOptions = {}): ClientHost => {
        const turns = new EndOfTurn();
        const memory = new MemoryBudget(1e9, () => undefined);
        const connections: ConnectionEnv = {
            writes: options.writes ? options.writes() : new Unbatched(turns),
            settled: new WritesSettled(),
            adapter: new WsAdapter(() => undefined, options.wsVersion),
            ackRequests: {want: () => undefined},
            maxUnsentBytes: options.maxUnsentBytes ?? 1_000_000,
            bufferMaxBytes: 1_000_000,
            keepsUnacknowledged: bufferStore !== null,
            memory,
            logger: () => log.factory('test'),
        };
        return {
            bufferStore,
            reconnectTimeoutMs: 60_000,
            buffers: {maxBytes: 1_000_000, budget: new BufferBudget(10_000_000), memory, writes: new WriteGate(8 * 1024 * 1024)},
            connections,
            logger: () => log.factory('test'),
            connect: (socket, client) => new Connection(socket, connections, client),
            clientClosed: (client) => {
                closed.push(client);
            },
        };
    };
    const batched = (): TurnBatcher => new TurnBatcher(new EndOfTurn());
    const pair = async (): Promise<SocketPair> => {
        const created = await socketPair();
        pairs.push(created);
        return created;
    };
    const newClient = (clientHost: ClientHost, socket: WebSocket, sequenced = false) =>
        ServerClient.connected(clientHost, socket, '/p', USERS.alice, {}, newClientId(), sequenced);
    /** The connection of an open client */
    const connectionOf = (serverClient: ServerClient): ClientConnection & Connection<ServerClient> => {
        const connection = serverClient.connection;
        if (!(connection instanceof Connection)) {
            throw new Error(`Client ${serverClient.clientId} has no connection`);
        }
        return connection as Connection<ServerClient>;
    };
    /** Its socket closed */
    const dropped = (serverClient: ServerClient): string => serverClient.connectionLost(connectionOf(serverClient));

    const BIG = JSON.stringify({big: 'x'.repeat(16 * 1024 * 1024)});
    /** A big message to a peer that reads nothing, so that most of it stays with Node */
    const sendBig = (serverClient: ServerClient, sockets: SocketPair, settled: Array<string>): Promise<unknown> => {
        tcpSocketOf(sockets.client).pause();
        const sent = serverClient.send(BIG).then(() => settled.push('big'));
        // More than the socket buffers of both ends take (else this test proves nothing)
        expect(tcpSocketOf(sockets.server).writableLength).toBeGreaterThan(0);
        return sent;
    };

    const stores: Array<FileReconnectBufferStore> = [];
    const openStore = async (): Promise<FileReconnectBufferStore> => {
        const store = await FileReconnectBufferStore.open(root);
        stores.push(store);
        return store;
    };

    beforeEach(async () => {
        root = await mkdtemp(join(tmpdir(), 'mashroom-websocket-client-'));
        closed.length = 0;
    });

    afterEach(async () => {
        await Promise.all(pairs.splice(0).map((each) => each.close()));
        await Promise.all(stores.splice(0).map((store) => store.close()));
        await rm(root, {recursive: true, force: true});
    });

    it('writes to its socket while open', async () => {
        const {server, client} = await pair();
        const received = nextMessage(client);
        await newClient(host(null), server).send('{"a":1}');
        expect(await received).toBe('{"a":1}');
    });

    it('resolves a send only after Node has had the chance to run the write callbacks queued so far', async () => {
        const {server} = await pair();
        const serverClient = newClient(host(null), server);
        // A caller that awaits each send in a loop must not keep Node from running them (they hold the buffers)
        let ticked = false;
        process.nextTick(() => {
            ticked = true;
        });
        await serverClient.send('{"a":1}');
        expect(ticked).toBe(true);
    });

    describe('with a message the operating system takes only in part', () => {
        // Not too slow for holding that much back
        const patientHost = (writes: () => TurnBatcher): ClientHost => host(null, {maxUnsentBytes: 64 * 1024 * 1024, writes});

        const stillPending = async (settled: Array<string>): Promise<void> => {
            for (let turn = 0; turn < 20; turn++) {
                await new Promise(setImmediate);
            }
            expect(settled).toEqual([]);
        };

        it.each([
            ['one at a time', 'a later turn', (): TurnBatcher => new Unbatched(new EndOfTurn())],
            ['batched', 'the same turn', batched],
        ])('settles it (%s) once the rest is out, those after it (in %s) after it, and the next one as usual', async (_, when, writes) => {
            const sockets = await pair();
            const serverClient = newClient(patientHost(writes), sockets.server);
            const settled: Array<string> = [];
            const big = sendBig(serverClient, sockets, settled);
            if (when === 'a later turn') {
                await new Promise(setImmediate);
            }
            const small = [1, 2].map((n) => serverClient.send(`{"small":${n}}`).then(() => settled.push(`small ${n}`)));
            await stillPending(settled);
            const received: Array<number> = [];
            sockets.client.on('message', (data: Buffer) => received.push(data.length));
            tcpSocketOf(sockets.client).resume();
            await Promise.all([big, ...small]);
            expect(settled).toEqual(['big', 'small 1', 'small 2']);
            // The counting is in step again: the next message settles once written, and arrives
            await serverClient.send('{"next":true}');
            await waitFor(() => received.length === 4, 'all messages');
            expect(received).toEqual([BIG.length, 11, 11, 13]);
        });

        it.each([
            ['written alone', (serverClient: ServerClient) => [serverClient.send(BIG)]],
            // The frames after the first of the turn leave in one write with a callback
            ['queued behind another', (serverClient: ServerClient) => [serverClient.send('{"small":1}'), serverClient.send(BIG)]],
        ])('does not count it (%s) as written when the connection is cut off before the rest is out', async (_, send) => {
            const sockets = await pair();
            const serverClient = newClient(patientHost(batched), sockets.server);
            tcpSocketOf(sockets.client).pause();
            const sends = send(serverClient);
            const big = sends[sends.length - 1];
            let bigSettled = false;
            void big.then(() => {
                bigSettled = true;
            }, () => undefined);
            await new Promise(setImmediate);
            expect(tcpSocketOf(sockets.server).writableLength).toBeGreaterThan(0);
            const closed = new Promise((resolve) => sockets.server.once('close', resolve));
            sockets.server.terminate();
            // Node reports a write cut off by destroying the socket as successful: that must not settle it
            await closed;
            expect(bigSettled).toBe(false);
            expect(dropped(serverClient)).toBe('closed');
            await expect(big).rejects.toThrow('is closed');
        });
    });

    describe('with writes batched per turn', () => {
        const batchingHost = (bufferStore: ReconnectBufferStore | null = null): ClientHost => host(bufferStore, {writes: batched});


        it('writes one encoding of a message sent to many clients in a turn, in one write each, and each reads it', async () => {
            const sharedHost = batchingHost();
            const all = [await pair(), await pair(), await pair()];
            const writes = all.map(({server}) => jest.spyOn(tcpSocketOf(server), 'write'));
            const received = all.map(({client}) => nextMessage(client));
            const clients = all.map(({server}) => newClient(sharedHost, server));
            await Promise.all(clients.map((each) => each.send('{"to":"all","text":"grüß 😀"}')));
            writes.forEach((write) => expect(write).toHaveBeenCalledTimes(1));
            const [first, ...others] = writes.map((write) => write.mock.calls[0][0]);
            others.forEach((frame) => expect(frame).toBe(first));
            expect(await Promise.all(received)).toEqual(Array(3).fill('{"to":"all","text":"grüß 😀"}'));
        });

        it('writes over TLS served by Node, where no write completes at once, with a callback, and settles after it', async () => {
            const sockets = await socketPair({tls: true});
            pairs.push(sockets);
            const raw = tcpSocketOf(sockets.server);
            expect(raw.encrypted).toBe(true);
            const writes = jest.spyOn(raw, 'write');
            const serverClient = newClient(batchingHost(), sockets.server);
            const received: Array<string> = [];
            sockets.client.on('message', (data) => received.push(data.toString()));
            const sends = [1, 2, 3].map((n) => serverClient.send(`{"n":${n}}`));
            // The first frame at once, with the callback that settles it; the others wait for the end of the turn
            expect(writes).toHaveBeenCalledTimes(1);
            expect(writes.mock.calls[0][1]).toEqual(expect.any(Function));
            await Promise.all(sends);
            expect(writes).toHaveBeenCalledTimes(2);
            await serverClient.send('{"n":4}');
            await waitFor(() => received.length === 4, 'the messages');
            expect(received).toEqual(['{"n":1}', '{"n":2}', '{"n":3}', '{"n":4}']);
        });

        it('settles the messages queued in one turn together, and delivers them in order', async () => {
            const {server, client} = await pair();
            const serverClient = newClient(batchingHost(), server);
            const received: Array<string> = [];
            client.on('message', (data) => received.push(data.toString()));
            // The first goes out at once, the others are queued and leave in one system call at the end of the turn
            const sends = [1, 2, 3].map((n) => serverClient.send(`{"n":${n}}`));
            // Those that leave together share one promise
            expect(sends[2]).toBe(sends[1]);
            expect(sends[1]).not.toBe(sends[0]);
            await Promise.all(sends);
            await waitFor(() => received.length === 3, 'the messages');
            expect(received).toEqual(['{"n":1}', '{"n":2}', '{"n":3}']);
        });

        it('rejects each message of a turn that its connection did not get to write, and never writes it, without buffering', async () => {
            const {server, client} = await pair();
            const serverClient = newClient(batchingHost(), server);
            const seen = clientEvents(client);
            const sends = [1, 2, 3].map((n) => serverClient.send(`{"n":${n}}`));
            // Dropped before the end of the turn: the queued ones were never written
            expect(dropped(serverClient)).toBe('closed');
            const outcomes = await Promise.allSettled(sends);
            expect(outcomes.map((outcome) => outcome.status)).toEqual(['fulfilled', 'rejected', 'rejected']);
            // Nor are they written afterwards, to a connection that was given up
            server.close(1000);
            await waitFor(() => seen.includes('(close 1000)'), 'the close');
            expect(seen).toEqual(['{"n":1}', '(close 1000)']);
        });

        // Each ping asks how far the peer has read: its pong acknowledges what was sent before it
        it.each([
            ['the dead peer check', (serverClient: ServerClient) => connectionOf(serverClient).ping()],
            ['the acknowledgement request', (serverClient: ServerClient) => connectionOf(serverClient).pingForAck()],
            ['the liveness probe', (serverClient: ServerClient) => void connectionOf(serverClient).probe(60_000)],
        ])('pings for %s only after the messages queued before the ping', async (_, ping) => {
            const {server, client} = await pair();
            const serverClient = newClient(batchingHost(await openStore()), server);
            const seen = clientEvents(client);
            [1, 2, 3].forEach((n) => void serverClient.send(`{"n":${n}}`));
            ping(serverClient);
            await waitFor(() => seen.length === 4, 'the messages and the ping');
            expect(seen).toEqual(['{"n":1}', '{"n":2}', '{"n":3}', '(ping)']);
        });

        it.each([
            ['plain TCP, where they are written at once', false],
            ['TLS, where none completes at once: their writes are still pending', true],
        ])('closes only after the messages queued before the close, and settles them by their writes (%s)', async (_, tls) => {
            const sockets = await socketPair({tls});
            pairs.push(sockets);
            const serverClient = newClient(batchingHost(), sockets.server);
            const seen = clientEvents(sockets.client);
            const sends = [1, 2, 3].map((n) => serverClient.send(`{"n":${n}}`));
            serverClient.close(1000, 'Done');
            // Written before the close frame, so settled as written
            const outcomes = await Promise.allSettled(sends);
            expect(outcomes.map((outcome) => outcome.status)).toEqual(['fulfilled', 'fulfilled', 'fulfilled']);
            await waitFor(() => seen.length === 4, 'the messages and the close');
            expect(seen).toEqual(['{"n":1}', '{"n":2}', '{"n":3}', '(close 1000)']);
            await expect(serverClient.send('{"n":4}')).rejects.toThrow(ClientGoneError);
        });

        it('rejects the messages still queued for a connection that began to close without writing them', async () => {
            const {server, client} = await pair();
            const serverClient = newClient(batchingHost(), server);
            const seen = clientEvents(client);
            const sends = [1, 2, 3].map((n) => serverClient.send(`{"n":${n}}`));
            // As ws answers a peer's close frame: its close frame overtakes what is queued, which may not follow it
            server.close(1000, 'Bye');
            serverClient.close(1000, 'Done');
            const outcomes = await Promise.allSettled(sends);
            expect(outcomes.map((outcome) => outcome.status)).toEqual(['fulfilled', 'rejected', 'rejected']);
            await waitFor(() => seen.length === 2, 'the message and the close');
            expect(seen).toEqual(['{"n":1}', '(close 1000)']);
        });

        it('rejects a message it closed with that the peer never read, once the connection is cut off', async () => {
            const sockets = await pair();
            const serverClient = newClient(batchingHost(), sockets.server);
            const sent = sendBig(serverClient, sockets, []);
            serverClient.close(1000, 'Done');
            const outcome = Promise.allSettled([sent]);
            tcpSocketOf(sockets.server).destroy();
            expect((await outcome)[0]).toEqual({status: 'rejected', reason: expect.any(ClientGoneError)});
        });

        it('buffers the messages queued in a turn in which ws began to close the socket (nothing may follow its close frame)', async () => {
            const {server, client} = await pair();
            const store = await openStore();
            const serverClient = newClient(batchingHost(store), server);
            const seen = clientEvents(client);
            const opcodes = wireOpcodes(client);
            const sends = [1, 2, 3].map((n) => serverClient.send(`{"n":${n}}`));
            // As ws does when the peer's close frame came in the same turn
            server.close(1000);
            await waitFor(() => seen.includes('(close 1000)'), 'the close');
            // On the wire: the first message, the close frame, and nothing after it
            expect(opcodes()).toEqual([1, 8]);
            expect(seen).toEqual(['{"n":1}', '(close 1000)']);
            expect(dropped(serverClient)).toBe('waiting');
            await Promise.all(sends);
            // Nothing acknowledged the first either: all three wait for the client to resume
            expect(await store.readAll(serverClient.clientId)).toEqual(['{"n":1}', '{"n":2}', '{"n":3}']);
        });
    });

    describe('with every frame written through ws.send (direct writing off)', () => {
        const throughWs = (bufferStore: ReconnectBufferStore | null = null): ClientHost => host(bufferStore, {writes: batched, wsVersion: '0.0.0'});

        it('delivers the messages of a turn in order, and settles each once written', async () => {
            const {server, client} = await pair();
            const serverClient = newClient(throughWs(), server);
            expect(connectionOf(serverClient).raw).toBeNull();
            const received: Array<string> = [];
            client.on('message', (data) => received.push(data.toString()));
            const sends = [1, 2, 3].map((n) => serverClient.send(`{"n":${n}}`));
            await Promise.all(sends);
            await serverClient.send('{"n":4}');
            await waitFor(() => received.length === 4, 'the messages');
            expect(received).toEqual(['{"n":1}', '{"n":2}', '{"n":3}', '{"n":4}']);
        });

        it('closes only after the messages sent before the close, and settles them by their writes', async () => {
            const sockets = await pair();
            const serverClient = newClient(throughWs(), sockets.server);
            const seen = clientEvents(sockets.client);
            const sends = [1, 2, 3].map((n) => serverClient.send(`{"n":${n}}`));
            serverClient.close(1000, 'Done');
            const outcomes = await Promise.allSettled(sends);
            expect(outcomes.map((outcome) => outcome.status)).toEqual(['fulfilled', 'fulfilled', 'fulfilled']);
            await waitFor(() => seen.includes('(close 1000)'), 'the close');
            // The write that settles them is a ping, which the peer may see before the close
            expect(seen.filter((event) => event !== '(ping)')).toEqual(['{"n":1}', '{"n":2}', '{"n":3}', '(close 1000)']);
        });

        it('keeps what a pong did not acknowledge, and buffers it on a drop', async () => {
            const {server, client} = await pair();
            const store = await openStore();
            const serverClient = newClient(throughWs(store), server);
            for (const message of ['1', '2']) {
                await serverClient.send(message);
            }
            const pinged = new Promise<Buffer>((resolve) => client.once('ping', resolve));
            const connection = connectionOf(serverClient);
            connection.ping();
            connection.pong(await pinged);
            await serverClient.send('3');
            expect(dropped(serverClient)).toBe('waiting');
            await serverClient.buffered();
            expect(await store.readAll(serverClient.clientId)).toEqual(['3']);
        });

        it('does not count a message as written when the connection is cut off before the rest is out', async () => {
            const sockets = await pair();
            const serverClient = newClient(host(null, {writes: batched, wsVersion: '0.0.0', maxUnsentBytes: 64 * 1024 * 1024}), sockets.server);
            const big = sendBig(serverClient, sockets, []);
            let settled = false;
            void big.then(() => {
                settled = true;
            }, () => undefined);
            await new Promise(setImmediate);
            const closedNow = new Promise((resolve) => sockets.server.once('close', resolve));
            // Through ws the callback of a write cut off like this reports success
            sockets.server.terminate();
            await closedNow;
            expect(settled).toBe(false);
            expect(dropped(serverClient)).toBe('closed');
            await expect(big).rejects.toThrow('is closed');
        });

        it('closes a client that does not read as too slow once its backlog passes the limit', async () => {
            const sockets = await pair();
            const serverClient = newClient(host(null, {writes: batched, wsVersion: '0.0.0', maxUnsentBytes: 1024}), sockets.server);
            const seen = clientEvents(sockets.client);
            tcpSocketOf(sockets.client).pause();
            void serverClient.send(BIG).catch(() => undefined);
            await new Promise(setImmediate);
            // The next turn finds more unsent than the limit: the client is closed, and what comes now is held back
            const late = serverClient.send('{"late":true}');
            expect(log.find('warn', 'more than maxUnsentBytesPerClient (1024): closing it as too slow (1013)')).toHaveLength(1);
            expect(sockets.server.readyState).toBe(sockets.server.CLOSING);
            const serverClosed = new Promise((resolve) => sockets.server.once('close', resolve));
            tcpSocketOf(sockets.client).resume();
            await waitFor(() => seen.includes('(close 1013)'), 'the close');
            await serverClosed;
            expect(seen.filter((event) => event.includes('late'))).toEqual([]);
            expect(dropped(serverClient)).toBe('closed');
            await expect(late).rejects.toThrow('is closed');
        });
    });

    it('holds a message sent while the socket is closing; without buffering the drop rejects it', async () => {
        const {server} = await pair();
        const serverClient = newClient(host(null), server);
        server.close();
        const late = serverClient.send('{"late":true}');
        expect(dropped(serverClient)).toBe('closed');
        await expect(late).rejects.toThrow('is closed');
    });

    it('puts a message sent while the socket is closing into the buffer on the drop', async () => {
        const {server} = await pair();
        const store = await openStore();
        const serverClient = newClient(host(store), server);
        server.close();
        const late = serverClient.send('{"late":true}');
        dropped(serverClient);
        await late;
        expect(await store.readAll(serverClient.clientId)).toEqual(['{"late":true}']);
    });

    it('is gone after a drop without buffering, and rejects sends', async () => {
        const {server} = await pair();
        const serverClient = newClient(host(null), server);
        expect(dropped(serverClient)).toBe('closed');
        expect(serverClient.state).toBe('closed');
        expect(closed).toEqual([serverClient]);
        await expect(serverClient.send('{}')).rejects.toThrow('is closed');
    });

    it('waits after a drop with buffering and replays on resume, then deletes the buffer', async () => {
        const first = await pair();
        const store = await openStore();
        const serverClient = newClient(host(store), first.server);
        expect(dropped(serverClient)).toBe('waiting');
        expect(serverClient.state).toBe('waiting');
        expect(serverClient.alive).toBe(false);
        await serverClient.send('1');
        await serverClient.send('2');

        const second = await pair();
        const frames: Array<string> = [];
        second.client.on('message', (data) => frames.push(data.toString()));
        const resuming = serverClient.resume(second.server, null);
        expect(serverClient.state).toBe('resuming');
        const queued = serverClient.send('3');
        expect(await resuming).toEqual({kind: 'resumed'});
        await queued;
        expect(serverClient.state).toBe('open');
        while (frames.length < 4) {
            await new Promise(setImmediate);
        }
        expect(frames).toEqual([JSON.stringify({type: 'setClientId', payload: serverClient.clientId}), '1', '2', '3']);
        expect(await store.readAll(serverClient.clientId)).toEqual([]);
    });

    it('puts the messages queued during an interrupted replay back into the buffer, in order', async () => {
        const first = await pair();
        const store = await openStore();
        const serverClient = newClient(host(store), first.server);
        dropped(serverClient);
        await serverClient.send('1');
        const second = await pair();
        const resuming = serverClient.resume(second.server, null);
        const queued = serverClient.send('2');
        // The new socket drops before the replay got going
        dropped(serverClient);
        expect(await resuming).toEqual({kind: 'superseded'});
        await queued;
        await serverClient.send('3');
        expect(serverClient.state).toBe('waiting');
        expect(await store.readAll(serverClient.clientId)).toEqual(['1', '2', '3']);
    });

    it('closes itself when the reconnect window passes', async () => {
        jest.useFakeTimers({doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask']});
        try {
            const {server} = await pair();
            const store = await openStore();
            const serverClient = newClient(host(store), server);
            dropped(serverClient);
            jest.advanceTimersByTime(59_999);
            expect(closed).toEqual([]);
            jest.advanceTimersByTime(1);
            expect(closed).toEqual([serverClient]);
            expect(serverClient.state).toBe('closed');
        } finally {
            jest.useRealTimers();
        }
    });

    it('sends nothing and reports the buffer lost when it is shorter than what was stored', async () => {
        const first = await pair();
        const store = await openStore();
        const serverClient = newClient(host(store), first.server);
        dropped(serverClient);
        await serverClient.send('1');
        await store.remove(serverClient.clientId);
        const second = await pair();
        const frames: Array<string> = [];
        second.client.on('message', (data) => frames.push(data.toString()));
        // Given back, open, for serving it as a new client
        expect(await serverClient.resume(second.server, null)).toEqual({kind: 'fresh', socket: second.server});
        expect(second.server.readyState).toBe(second.server.OPEN);
        expect(serverClient.state).toBe('closed');
        // A round trip on the socket shows that nothing was sent before it
        second.server.send('"marker"');
        while (frames.length < 1) {
            await new Promise(setImmediate);
        }
        expect(frames).toEqual(['"marker"']);
    });

    describe('acknowledgements', () => {
        /** Send the frames, ping as the dead peer check does and answer with the payload the peer got */
        const sendAndPong = async (serverClient: ServerClient, peer: WebSocket, messages: Array<string>): Promise<void> => {
            for (const message of messages) {
                await serverClient.send(message);
            }
            const pinged = new Promise<Buffer>((resolve) => peer.once('ping', resolve));
            const connection = connectionOf(serverClient);
            connection.ping();
            connection.pong(await pinged);
        };

        it('takes a pong as acknowledgement of everything a plain client was sent before the ping', async () => {
            const {server, client} = await pair();
            const store = await openStore();
            const serverClient = newClient(host(store), server);
            await sendAndPong(serverClient, client, ['1', '2']);
            await serverClient.send('3');
            dropped(serverClient);
            await serverClient.buffered();
            expect(await store.readAll(serverClient.clientId)).toEqual(['3']);
        });

        it('does not take a pong as acknowledgement from a client of the delivery protocol, only its ack', async () => {
            const {server, client} = await pair();
            const store = await openStore();
            const serverClient = newClient(host(store), server, true);
            // Its WebSocket has read them, but the application may not have them stored yet (a page that reloads)
            await sendAndPong(serverClient, client, ['"a"', '"b"', '"c"']);
            connectionOf(serverClient).acknowledgeSeq(1);
            dropped(serverClient);
            await serverClient.buffered();
            expect(await store.readAll(serverClient.clientId)).toEqual([
                '{"type":"message","seq":2,"payload":"b"}',
                '{"type":"message","seq":3,"payload":"c"}',
            ]);
        });
    });

    it('refuses to resume a client that is not waiting', async () => {
        const {server} = await pair();
        const serverClient = newClient(host(null), server);
        await expect(serverClient.resume(server, null)).rejects.toThrow('in state open');
    });
});
