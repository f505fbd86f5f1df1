import {randomUUID} from 'crypto';
import {startRedis} from '../helpers/redis-server';
import {startServerProcess} from '../helpers/server-process';
import type {ServerProcess} from '../helpers/server-process';
import type {RunningRedis} from '../helpers/redis-server';
import WebSocket from 'ws';
import MashroomWebSocketClient from '../../client';
import {TestClient} from '../helpers/test-client';
import {sessionCookie} from '../helpers/test-plugin-context';
import {waitFor} from '../helpers/wait';

type Node = ServerProcess;

/** A node of the cluster in a process of its own (see test/helpers/cluster-node.js) */
const startNode = (name: string, redis: RunningRedis, keyPrefix: string, reconnectTimeoutSec = 10): Promise<Node> =>
    startServerProcess(name, {REDIS_URL: redis.url, KEY_PREFIX: keyPrefix, RECONNECT_TIMEOUT_SEC: String(reconnectTimeoutSec)});

type ClientInfo = {clientId: string; alive: boolean; username: string};
const clientsOf = async (node: Node): Promise<Array<ClientInfo>> => (await node.ask<{clients: Array<ClientInfo>}>({cmd: 'clients'})).clients;
const disconnectedOn = async (node: Node): Promise<Array<string>> => (await node.ask<{disconnected: Array<string>}>({cmd: 'disconnected'})).disconnected;
const logsOf = async (node: Node): Promise<Array<{level: string; message: string}>> => (await node.ask<{logs: Array<{level: string; message: string}>}>({cmd: 'logs'})).logs;

/*
 * Two nodes in processes of their own share a real redis-server: a client that drops from one node resumes
 * on the other.
 */
describe('a cluster with the reconnect buffer in Redis', () => {
    let redis: RunningRedis;
    let a: Node;
    let b: Node;
    let prefix = 0;
    const clients: Array<TestClient> = [];
    const libraries: Array<MashroomWebSocketClient> = [];

    const connect = async (node: Node, user: 'alice' | 'bob', clientId?: string): Promise<{client: TestClient; clientId: string}> => {
        const client = await TestClient.connect(`${node.wsOrigin}/websocket/c${clientId ? `?clientId=${clientId}` : ''}`, user);
        clients.push(client);
        return {client, clientId: await client.clientId()};
    };
    const dropped = async (node: Node, user: 'alice' | 'bob'): Promise<string> => {
        const {client, clientId} = await connect(node, user);
        await client.drop();
        await waitFor(async () => (await clientsOf(node)).some((info) => info.clientId === clientId && !info.alive), `${node.name} to notice the drop`);
        return clientId;
    };

    beforeAll(async () => {
        redis = await startRedis();
    });

    beforeEach(async () => {
        // A key prefix per test: nothing of one test is seen by the next
        const keyPrefix = `test${prefix++}:`;
        [a, b] = await Promise.all([startNode('A', redis, keyPrefix), startNode('B', redis, keyPrefix)]);
        await waitFor(async () => (await logsOf(a)).some((entry) => entry.message.includes('is reachable')) &&
            (await logsOf(b)).some((entry) => entry.message.includes('is reachable')), 'both nodes to reach Redis');
    });

    afterEach(async () => {
        libraries.splice(0).forEach((client) => client.close());
        await Promise.all(clients.splice(0).map((client) => client.close()));
        await Promise.all([a?.stop(), b?.stop()]);
    });

    afterAll(async () => {
        await redis?.dispose();
    });

    it('resumes on B a client that dropped from A, with everything sent on A meanwhile, in order; A lets it go once', async () => {
        const clientId = await dropped(a, 'alice');
        for (let n = 1; n <= 5; n++) {
            await a.ask({cmd: 'send', clientId, message: {n}});
        }
        const {client: resumed, clientId: resumedId} = await connect(b, 'alice', clientId);
        expect(resumedId).toBe(clientId);
        for (let n = 1; n <= 5; n++) {
            expect(await resumed.nextJson()).toEqual({n});
        }
        // B serves it from now on
        await b.ask({cmd: 'send', clientId, message: {from: 'B'}});
        expect(await resumed.nextJson()).toEqual({from: 'B'});
        // A learned of it and let it go, telling its disconnect listeners once
        await waitFor(async () => (await clientsOf(a)).length === 0, 'A to let the client go');
        expect(await disconnectedOn(a)).toEqual([clientId]);
        expect(await disconnectedOn(b)).toEqual([]);
        await expect(a.ask({cmd: 'send', clientId, message: {late: true}})).rejects.toThrow('no such client');
    });

    it('resumes a client of the client library on B with its numbering: every message once, in order', async () => {
        const saved = new Map<string, string>();
        const storage = {getItem: (key: string) => saved.get(key) ?? null, setItem: (key: string, value: string) => saved.set(key, value), removeItem: (key: string) => saved.delete(key)};
        // One page, reloaded, whose reconnect reaches the other node
        const onNode = (node: Node): {client: MashroomWebSocketClient; received: Array<unknown>} => {
            const client = new MashroomWebSocketClient(`${node.wsOrigin}/websocket/c`, {
                WebSocket, webSocketOptions: {headers: {cookie: sessionCookie('alice')}}, storage, storageKey: 'page', ackDelayMs: 10,
            });
            const received: Array<unknown> = [];
            client.on('message', (payload) => received.push(payload));
            client.connect();
            libraries.push(client);
            return {client, received};
        };
        const first = onNode(a);
        await waitFor(() => first.client.clientId !== null && first.client.connected, 'the connection to A');
        const clientId = first.client.clientId ?? '';
        await a.ask({cmd: 'send', clientId, message: {n: 1}});
        await waitFor(() => first.received.length === 1, 'the first message');
        first.client.close();
        await waitFor(async () => (await clientsOf(a)).some((info) => info.clientId === clientId && !info.alive), 'A to notice the close');
        await a.ask({cmd: 'send', clientId, message: {n: 2}});
        await a.ask({cmd: 'send', clientId, message: {n: 3}});

        const second = onNode(b);
        await waitFor(() => second.received.length === 2, 'the messages sent on A meanwhile');
        expect(second.client.clientId).toBe(clientId);
        await b.ask({cmd: 'send', clientId, message: {n: 4}});
        await waitFor(() => second.received.length === 3, 'the message sent on B');
        expect(second.received).toEqual([{n: 2}, {n: 3}, {n: 4}]);
        // Numbered on from where A left off
        expect(second.client.lastSeq).toBe(4);
        expect(second.client.duplicates).toBe(0);
    });

    it('lets exactly one of two nodes win a race for one client', async () => {
        const clientId = await dropped(a, 'alice');
        await a.ask({cmd: 'send', clientId, message: {n: 1}});
        const [onA, onB] = await Promise.all([connect(a, 'alice', clientId), connect(b, 'alice', clientId)]);
        const winners = [onA, onB].filter((attempt) => attempt.clientId === clientId);
        expect(winners).toHaveLength(1);
        expect(await winners[0].client.nextJson()).toEqual({n: 1});
        const loser = [onA, onB].find((attempt) => attempt.clientId !== clientId);
        // The loser starts afresh and got nothing of the old client
        loser?.client.send({ping: true});
        await waitFor(async () => (await clientsOf(a)).length + (await clientsOf(b)).length === 2, 'both connections to be served');
        expect(loser?.client.received.filter((frame) => !frame.includes('setClientId'))).toEqual([]);
    });

    it('gives another user a fresh client on another node, and the owner can still resume', async () => {
        const clientId = await dropped(a, 'alice');
        await a.ask({cmd: 'send', clientId, message: {secret: 'for alice'}});
        const thief = await connect(b, 'bob', clientId);
        expect(thief.clientId).not.toBe(clientId);
        expect((await logsOf(b)).some((entry) => entry.level === 'warn' && entry.message.includes('belongs to another user'))).toBe(true);
        const owner = await connect(b, 'alice', clientId);
        expect(owner.clientId).toBe(clientId);
        expect(await owner.client.nextJson()).toEqual({secret: 'for alice'});
        expect(thief.client.received).toHaveLength(1);
    });

    it('says why a client could not be resumed from Redis, naming its user and connect path, and gives the connection a new one', async () => {
        const unknown = randomUUID();
        const {clientId} = await connect(b, 'alice', unknown);
        expect(clientId).not.toBe(unknown);
        await waitFor(async () => (await logsOf(b)).some((entry) => entry.level === 'info' && entry.message ===
            `Client ${unknown} cannot be resumed: the shared store does not hold it (its reconnect window passed, another node resumed it, or it never was); the connection gets a new client (user alice, connect path /c)`),
        'the line that says why');
    });

    it('resumes on B by its cookie alone a client that dropped from A; a cookie naming a client that Redis does not hold gets a new one, named in the response', async () => {
        const {client, clientId} = await connect(a, 'alice');
        expect(client.setCookies).toEqual([`mashroom-websocket-client=${clientId}; Path=/websocket/c; HttpOnly; SameSite=Strict`]);
        await client.drop();
        await waitFor(async () => (await clientsOf(a)).some((info) => info.clientId === clientId && !info.alive), 'A to notice the drop');
        await a.ask({cmd: 'send', clientId, message: {sent: 'on A'}});

        const withCookie = (id: string) => ({cookie: `${sessionCookie('alice')}; mashroom-websocket-client=${id}`});
        const resumed = await TestClient.connect(`${b.wsOrigin}/websocket/c`, withCookie(clientId));
        clients.push(resumed);
        expect(await resumed.clientId()).toBe(clientId);
        expect(await resumed.nextJson()).toEqual({sent: 'on A'});

        const unknownId = '0b7e3c52-4f1e-4d7a-9c7e-2f6a1b0c9d8e';
        const fresh = await TestClient.connect(`${b.wsOrigin}/websocket/c`, withCookie(unknownId));
        clients.push(fresh);
        const freshId = await fresh.clientId();
        expect(freshId).not.toBe(unknownId);
        expect(fresh.setCookies).toEqual([`mashroom-websocket-client=${freshId}; Path=/websocket/c; HttpOnly; SameSite=Strict`]);
    });

    it('keeps serving while Redis is down, with resuming off, and resumes across nodes again when it is back', async () => {
        // Starting up (one connection ready before the other) is not an outage, and neither is stopping
        const availability = async (node: Node): Promise<Array<string>> => (await logsOf(node))
            .filter((entry) => entry.message.startsWith('Resuming')).map((entry) => `${entry.level}: ${entry.message.includes('Resuming is off') ? 'off' : 'on'}`);
        expect(await availability(a)).toEqual(['info: on']);
        await redis.stop();
        await waitFor(async () => (await logsOf(a)).some((entry) => entry.level === 'error' && entry.message.includes('Resuming is off')),
            'A to notice that Redis is gone');
        // Connections are served
        const {client, clientId} = await connect(a, 'alice');
        await a.ask({cmd: 'send', clientId, message: {still: 'served'}});
        expect(await client.nextJson()).toEqual({still: 'served'});
        // A drop is final while Redis is away
        await client.drop();
        await waitFor(async () => (await disconnectedOn(a)).includes(clientId), 'A to let the dropped client go');
        const again = await connect(b, 'alice', clientId);
        expect(again.clientId).not.toBe(clientId);

        await redis.start();
        await waitFor(async () => (await logsOf(a)).filter((entry) => entry.message.includes('is reachable')).length >= 2 &&
            (await logsOf(b)).filter((entry) => entry.message.includes('is reachable')).length >= 2, 'both nodes to be back', 15_000);
        const droppedId = await dropped(a, 'alice');
        await a.ask({cmd: 'send', clientId: droppedId, message: {back: true}});
        const resumed = await connect(b, 'alice', droppedId);
        expect(resumed.clientId).toBe(droppedId);
        expect(await resumed.client.nextJson()).toEqual({back: true});
        expect(await availability(a)).toEqual(['info: on', 'error: off', 'info: on']);
    }, 40_000);

    it('serves connections with Redis down from the start, and uses it once it is up', async () => {
        await Promise.all([a.stop(), b.stop()]);
        await redis.stop();
        [a, b] = await Promise.all([startNode('A', redis, 'late:'), startNode('B', redis, 'late:')]);
        const {client, clientId} = await connect(a, 'bob');
        await a.ask({cmd: 'send', clientId, message: {up: true}});
        expect(await client.nextJson()).toEqual({up: true});
        await redis.start();
        await waitFor(async () => (await logsOf(a)).some((entry) => entry.message.includes('is reachable')) &&
            (await logsOf(b)).some((entry) => entry.message.includes('is reachable')), 'both nodes to reach Redis', 15_000);
        const droppedId = await dropped(a, 'bob');
        const resumed = await connect(b, 'bob', droppedId);
        expect(resumed.clientId).toBe(droppedId);
    }, 40_000);
});
