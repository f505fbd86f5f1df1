import IORedis from 'ioredis';
import {RedisReconnectBufferStore} from '../../src/buffer/redis-reconnect-buffer-store';
import {BufferClaimedError, BufferLostError} from '../../src/buffer/reconnect-buffer-store';
import type {BufferedSession} from '../../src/buffer/reconnect-buffer-store';
import {newClientId} from '../../src/protocol/client-id';
import {RecordingLog} from '../helpers/recording-logger';
import {startRedis} from '../helpers/redis-server';
import type {RunningRedis} from '../helpers/redis-server';
import {waitFor} from '../helpers/wait';

const ALICE: BufferedSession = {username: 'alice', connectPath: '/feed', sequenced: false, lastSeq: 0};
const WINDOW_MS = 60_000;

/*
 * The Redis store on its own, against a real redis-server: what the nodes of a cluster rely on.
 */
describe('RedisReconnectBufferStore', () => {
    let redis: RunningRedis;
    let inspector: IORedis;
    let prefix = 0;
    let keyPrefix: string;
    const log = new RecordingLog();
    const stores: Array<RedisReconnectBufferStore> = [];

    /** One node's store; all stores of a test share its key prefix */
    const node = async (): Promise<RedisReconnectBufferStore> => {
        const store = RedisReconnectBufferStore.create({url: redis.url, keyPrefix}, log.factory('redis'));
        stores.push(store);
        await waitFor(() => store.available, 'the store to reach Redis');
        return store;
    };

    beforeAll(async () => {
        redis = await startRedis();
        inspector = new IORedis(redis.url);
    });

    beforeEach(() => {
        keyPrefix = `store${prefix++}:`;
        log.clear();
    });

    afterEach(async () => {
        await Promise.all(stores.splice(0).map((store) => store.close()));
    });

    afterAll(async () => {
        await inspector?.quit();
        await redis?.dispose();
    });

    it('gives the claimant every message in order, in slices beyond what one script call takes', async () => {
        const a = await node();
        const b = await node();
        const clientId = newClientId();
        const messages = Array.from({length: 5000}, (_, n) => JSON.stringify({n, text: 'Grüße 🌍'}));
        await a.open(clientId, ALICE, WINDOW_MS, messages.slice(0, 2500));
        await a.append(clientId, messages.slice(2500, 2501), true);
        await a.append(clientId, messages.slice(2501), true);
        const claimed = await b.claim(clientId, ALICE);
        expect(claimed?.messages).toEqual(messages);
        expect(claimed?.recorded).toBe(5000);
        // Claimed once: nobody gets it again
        expect(await a.claim(clientId, ALICE)).toBeNull();
        expect(await b.claim(clientId, ALICE)).toBeNull();
    });

    it('lets no claim see part of what a client starts waiting with', async () => {
        const a = await node();
        const b = await node();
        // Unacknowledged frames of a connection, more than one script call takes
        const unacknowledged = Array.from({length: 3500}, (_, n) => `{"n":${n}}`);
        const clientId = newClientId();
        // Hold the first slice after the OPEN: the client is in Redis with part of its frames
        const redisOfA = (a as unknown as {redis: {wsAppend: (...args: Array<unknown>) => Promise<number>}}).redis;
        const wsAppend = redisOfA.wsAppend.bind(redisOfA);
        let release: () => void = () => undefined;
        const held = new Promise<void>((resolve) => {
            release = resolve;
        });
        let appending: () => void = () => undefined;
        const reachedAppend = new Promise<void>((resolve) => {
            appending = resolve;
        });
        redisOfA.wsAppend = async (...args) => {
            appending();
            await held;
            return wsAppend(...args);
        };
        const opening = a.open(clientId, ALICE, WINDOW_MS, unacknowledged);
        await reachedAppend;
        expect(await inspector.llen(`${keyPrefix}buffer:${clientId}`)).toBe(1000);
        // Claims from another node meanwhile find nothing to claim
        expect(await Promise.all(Array.from({length: 3}, () => b.claim(clientId, ALICE)))).toEqual([null, null, null]);
        release();
        await opening;
        // Once all of it is there, a claim gets all of it
        expect((await b.claim(clientId, ALICE))?.messages).toEqual(unacknowledged);
    });

    it('lets exactly one of several nodes racing for a client claim it', async () => {
        const nodes = await Promise.all([node(), node(), node()]);
        const clientId = newClientId();
        await nodes[0].open(clientId, ALICE, WINDOW_MS, []);
        await nodes[0].append(clientId, ['1'], false);
        const claims = await Promise.all(nodes.map((store) => store.claim(clientId, ALICE)));
        expect(claims.filter((claim) => claim !== null)).toEqual([expect.objectContaining({messages: ['1']})]);
    });

    it('tells the node that held the client of the claim, and refuses its later appends', async () => {
        const a = await node();
        const b = await node();
        const claimedOnA: Array<string> = [];
        const claimedOnB: Array<string> = [];
        a.onClaimedElsewhere((clientId) => claimedOnA.push(clientId));
        b.onClaimedElsewhere((clientId) => claimedOnB.push(clientId));
        const clientId = newClientId();
        await a.open(clientId, ALICE, WINDOW_MS, []);
        await a.append(clientId, ['1'], false);
        await b.claim(clientId, ALICE);
        await expect(a.append(clientId, ['2'], true)).rejects.toThrow(BufferClaimedError);
        await waitFor(() => claimedOnA.length === 1, 'A to hear of the claim');
        expect(claimedOnA).toEqual([clientId]);
        expect(claimedOnB).toEqual([]);
        // Only the holder removes it
        await a.remove(clientId);
        expect(await inspector.exists(`${keyPrefix}session:${clientId}`)).toBe(1);
        await b.remove(clientId);
        expect(await inspector.exists(`${keyPrefix}session:${clientId}`, `${keyPrefix}buffer:${clientId}`)).toBe(0);
    });

    it('gives nothing to another user, connect path or protocol, and the owner can still claim', async () => {
        const a = await node();
        const clientId = newClientId();
        await a.open(clientId, ALICE, WINDOW_MS, []);
        await a.append(clientId, ['secret'], false);
        expect(await a.claim(clientId, {...ALICE, username: 'bob'})).toBeNull();
        expect(log.find('warn', `User bob asked to resume client ${clientId}, which belongs to another user`)).toHaveLength(1);
        expect(await a.claim(clientId, {...ALICE, connectPath: '/other'})).toBeNull();
        expect(await a.claim(clientId, {...ALICE, sequenced: true})).toBeNull();
        expect((await a.claim(clientId, ALICE))?.messages).toEqual(['secret']);
    });

    it('keeps what was recorded of a client of the delivery protocol for the node that resumes it', async () => {
        const a = await node();
        const b = await node();
        const clientId = newClientId();
        const session = {...ALICE, sequenced: true, lastSeq: 41};
        await a.open(clientId, session, WINDOW_MS, []);
        await a.append(clientId, ['{"type":"message","seq":42,"payload":1}'], false);
        const claimed = await b.claim(clientId, {...session, lastSeq: 0});
        expect(claimed?.session?.lastSeq).toBe(41);
    });

    it('lets the keys expire with the reconnect window', async () => {
        const a = await node();
        const clientId = newClientId();
        await a.open(clientId, ALICE, 5000, []);
        await a.append(clientId, ['1'], false);
        for (const key of [`${keyPrefix}session:${clientId}`, `${keyPrefix}buffer:${clientId}`]) {
            const ttl = await inspector.pttl(key);
            expect(ttl).toBeGreaterThan(0);
            expect(ttl).toBeLessThanOrEqual(5000);
        }
    });

    it('finds a buffer that vanished from Redis (evicted) and does not start a new one with a gap', async () => {
        const a = await node();
        const clientId = newClientId();
        await a.open(clientId, ALICE, WINDOW_MS, []);
        await a.append(clientId, ['1'], false);
        await inspector.del(`${keyPrefix}buffer:${clientId}`);
        await expect(a.append(clientId, ['2'], true)).rejects.toThrow(BufferLostError);
    });

    it('replays nothing of a list whose message was changed in Redis, even with the count unchanged', async () => {
        const a = await node();
        const b = await node();
        const clientId = newClientId();
        await a.open(clientId, ALICE, WINDOW_MS, ['{"greetings":"Hello alice!"}', '{"n":2}']);
        const key = `${keyPrefix}buffer:${clientId}`;
        const [first] = await inspector.lrange(key, 0, 0);
        await inspector.lset(key, 0, first.replace('alice', 'mallory'));
        await expect(b.claim(clientId, ALICE)).rejects.toThrow('does not verify');
        expect(await inspector.llen(key)).toBe(2);
    });

    it('refuses what is not a client id as a key', async () => {
        const a = await node();
        await expect(a.claim('../../etc', ALICE)).rejects.toThrow('not a client id');
        expect(await inspector.keys(`${keyPrefix}*`)).toEqual([]);
    });

    it('connects with the password of the URL and never logs it', async () => {
        await inspector.config('SET', 'requirepass', 's3cret');
        try {
            const store = RedisReconnectBufferStore.create({url: `redis://:s3cret@127.0.0.1:${redis.port}`, keyPrefix}, log.factory('redis'));
            stores.push(store);
            expect(store.description).toBe(`Redis redis://***@127.0.0.1:${redis.port}, key prefix ${keyPrefix}`);
            await waitFor(() => store.available, 'the store to log in');
            const clientId = newClientId();
            await store.open(clientId, ALICE, WINDOW_MS, []);
            expect(log.find('info', 'Resuming on any node is on: Redis redis://***@')).toHaveLength(1);
            expect(JSON.stringify(log.entries)).not.toContain('s3cret');
        } finally {
            await inspector.config('SET', 'requirepass', '');
        }
    });
});
