import WebSocket from 'ws';
import {BufferClaimedError} from '../../src/buffer/reconnect-buffer-store';
import type {BufferedSession, ClaimedBuffer, ReconnectBufferStore, SealedClient} from '../../src/buffer/reconnect-buffer-store';
import {newClientId} from '../../src/protocol/client-id';
import {envelope} from '../../src/protocol/delivery-envelope';
import {DELIVERY_PROTOCOL} from '../../src/protocol/wire';
import type {ServerClient} from '../../src/client/server-client';
import type {MashroomWebSocketClient} from '../../type-definitions';
import {startTestServer} from '../helpers/test-server';
import type {TestServer} from '../helpers/test-server';
import {TestClient} from '../helpers/test-client';
import {sessionCookie} from '../helpers/test-plugin-context';
import {waitFor} from '../helpers/wait';

type Session = {owner: string; state: 'opening' | 'waiting' | 'claimed'; session: BufferedSession; messages: Array<string>};

/**
 * A shared store in memory with the semantics of the Redis store (one owner per session, claims only of
 * waiting sessions, appends only by the owner), whose claims the test can hold and answer when it likes:
 * the races between a claim and a connection that goes away are otherwise a matter of luck.
 */
class HeldSharedStore implements ReconnectBufferStore {
    readonly description = 'a shared store in memory';
    readonly available = true;
    readonly sessions = new Map<string, Session>();
    readonly claimsAsked: Array<string> = [];
    hold = false;
    nextClaimError: Error | null = null;
    private held: Array<() => void> = [];
    private claimedListeners: Array<(clientId: string) => void> = [];

    constructor(private readonly node: string) {
    }

    async open(clientId: string, session: BufferedSession, ttlMs: number, messages: ReadonlyArray<string>): Promise<void> {
        const existing = this.sessions.get(clientId);
        if (existing && existing.owner !== this.node) {
            throw new BufferClaimedError(clientId);
        }
        const entry = existing ?? {owner: this.node, state: 'waiting', session, messages: []};
        entry.state = 'waiting';
        entry.messages.push(...messages);
        this.sessions.set(clientId, entry);
    }

    async append(clientId: string, messages: ReadonlyArray<string>): Promise<void> {
        const entry = this.sessions.get(clientId);
        if (!entry || entry.owner !== this.node) {
            throw new BufferClaimedError(clientId);
        }
        entry.messages.push(...messages);
    }

    async claim(clientId: string, claimant: BufferedSession): Promise<ClaimedBuffer | null> {
        this.claimsAsked.push(clientId);
        if (this.hold) {
            await new Promise<void>((resolve) => this.held.push(resolve));
        }
        if (this.nextClaimError) {
            const error = this.nextClaimError;
            this.nextClaimError = null;
            throw error;
        }
        const entry = this.sessions.get(clientId);
        if (!entry || entry.state !== 'waiting' || entry.session.username !== claimant.username) {
            return null;
        }
        entry.owner = this.node;
        entry.state = 'claimed';
        return {messages: [...entry.messages], recorded: entry.messages.length, session: entry.session};
    }

    async remove(clientId: string): Promise<void> {
        if (this.sessions.get(clientId)?.owner === this.node) {
            this.sessions.delete(clientId);
        }
    }

    mayHold(): boolean {
        // Another node may have it: the claim decides
        return true;
    }

    async waits(clientId: string, claimant: Pick<BufferedSession, 'username' | 'connectPath'>): Promise<boolean> {
        const entry = this.sessions.get(clientId);
        return entry?.state === 'waiting' && entry.session.username === claimant.username && entry.session.connectPath === claimant.connectPath;
    }

    async restore(): Promise<number> {
        return 0;
    }

    async seal(clients: ReadonlyArray<SealedClient>): Promise<ReadonlyArray<string>> {
        // Shared: nothing more to keep
        return clients.map(({clientId}) => clientId);
    }

    async clear(): Promise<void> {
        // Other nodes' sessions stay
    }

    onClaimedElsewhere(listener: (clientId: string) => void): void {
        this.claimedListeners.push(listener);
    }

    async close(): Promise<void> {
        this.claimedListeners = [];
    }

    /** Answer the claims held so far */
    release(): void {
        this.hold = false;
        this.held.splice(0).forEach((resolve) => resolve());
    }

    /** Another node claims the client, and the news of it reaches this node only when `tell` is called */
    claimByAnotherNode(clientId: string): {tell: () => void} {
        const entry = this.sessions.get(clientId);
        if (entry) {
            entry.owner = 'another node';
            entry.state = 'claimed';
        }
        return {tell: () => this.claimedListeners.forEach((listener) => listener(clientId))};
    }
}

/*
 * A reconnect that names a client this node does not know (it may have dropped from another node) against a
 * shared store whose answers the test times: nothing may be made up, nothing lost, no listener told twice.
 */
describe('claiming a client from another node', () => {
    let server: TestServer;
    let store: HeldSharedStore;
    const clients: Array<TestClient> = [];
    const disconnected: Array<string> = [];
    const alice: BufferedSession = {username: 'alice', connectPath: '/feed', sequenced: false, lastSeq: 0};

    beforeEach(async () => {
        server = await startTestServer({config: {reconnectTimeoutSec: 30}});
        store = new HeldSharedStore('this node');
        server.server.useBufferStore(store);
        disconnected.length = 0;
        server.service.addDisconnectListener((client) => {
            disconnected.push(client.clientId);
        });
    });

    afterEach(async () => {
        store.release();
        await Promise.all(clients.splice(0).map((client) => client.close()));
        await server.stop();
    });

    const connect = async (query: string): Promise<TestClient> => {
        const client = await TestClient.connect(`${server.wsOrigin}/websocket/feed${query}`, 'alice');
        clients.push(client);
        return client;
    };
    /** A connection that asks for the client and goes away while its claim is held */
    const goneDuringClaim = async (clientId: string, protocols: Array<string> = []): Promise<void> => {
        store.hold = true;
        const socket = new WebSocket(`${server.wsOrigin}/websocket/feed?clientId=${clientId}&lastSeq=57`, protocols, {headers: {cookie: sessionCookie('alice')}});
        socket.on('error', () => undefined);
        await waitFor(() => store.claimsAsked.includes(clientId), 'the claim');
        socket.terminate();
        await waitFor(() => server.context.log.find('info', `Client ${clientId} disconnected`).length > 0, 'the server to notice');
        store.release();
    };

    it('makes nothing up when the connection goes away during a claim that finds nothing', async () => {
        const clientId = newClientId();
        await goneDuringClaim(clientId, [DELIVERY_PROTOCOL]);
        await waitFor(() => server.service.getClientCount() === 0, 'the client to be forgotten');
        // Nothing reached the store, nobody was told of a client that never existed here
        expect(store.sessions.has(clientId)).toBe(false);
        expect(disconnected).toEqual([]);
        // A later reconnect with the id finds nothing either, and gets a fresh client
        const again = await connect(`?clientId=${clientId}`);
        expect(await again.clientId()).not.toBe(clientId);
    });

    it('keeps a client whose claim succeeded after its connection went away, and resumes it with everything', async () => {
        const clientId = newClientId();
        store.sessions.set(clientId, {owner: 'another node', state: 'waiting', session: alice, messages: ['{"n":1}']});
        await goneDuringClaim(clientId);
        await waitFor(() => store.sessions.get(clientId)?.state === 'waiting', 'the client to wait here');
        expect(store.sessions.get(clientId)?.owner).toBe('this node');
        const [waiting] = server.service.getClientsOfUser('alice');
        expect(waiting.clientId).toBe(clientId);
        await server.service.sendMessage(waiting, {n: 2});

        const resumed = await connect(`?clientId=${clientId}`);
        expect(await resumed.clientId()).toBe(clientId);
        expect(await resumed.nextJson()).toEqual({n: 1});
        expect(await resumed.nextJson()).toEqual({n: 2});
        expect(disconnected).toEqual([]);
    });

    it('serves the connection as a new client when the claim fails', async () => {
        const clientId = newClientId();
        store.sessions.set(clientId, {owner: 'another node', state: 'waiting', session: alice, messages: ['{"n":1}']});
        store.nextClaimError = new Error('connection lost');
        const client = await connect(`?clientId=${clientId}`);
        expect(await client.clientId()).not.toBe(clientId);
        expect(server.context.log.find('error', `Claiming client ${clientId} from another node failed`)).toHaveLength(1);
        expect(server.service.getClientCount()).toBe(1);
        expect(disconnected).toEqual([]);
    });

    it('refuses a send that learns of a claim by another node before the news, and lets the client go once', async () => {
        const first = await connect('');
        const clientId = await first.clientId();
        await first.drop();
        await waitFor(() => store.sessions.get(clientId)?.state === 'waiting', 'the client to wait');
        const [waiting] = server.service.getClientsOfUser('alice');
        const {tell} = store.claimByAnotherNode(clientId);

        await expect(server.service.sendMessage(waiting, {late: true})).rejects.toThrow(BufferClaimedError);
        await waitFor(() => disconnected.length === 1, 'the client to be let go');
        expect(server.context.log.find('info', `Client ${clientId} resumed on another node: removing it here`)).toHaveLength(1);
        expect(server.context.log.find('warn', 'cannot resume in full')).toHaveLength(0);
        // The news comes after all: nothing more happens
        tell();
        expect(disconnected).toEqual([clientId]);
        expect(server.service.getClientCount()).toBe(0);
    });

    /** While a claim is held: a connection that asks for the client, and the client as plugins see it */
    const claimHeld = async (clientId: string, query = '', protocols: Array<string> = []): Promise<{client: TestClient; target: MashroomWebSocketClient}> => {
        store.hold = true;
        const claims = store.claimsAsked.length;
        const client = await TestClient.connect(`${server.wsOrigin}/websocket/feed?clientId=${clientId}${query}`, 'alice', {}, protocols);
        clients.push(client);
        await waitFor(() => store.claimsAsked.length > claims, 'the claim');
        const [target] = server.service.getClientsOfUser('alice');
        expect(target.clientId).toBe(clientId);
        return {client, target};
    };

    /** A client waiting on another node with one message, whose connection here goes away while the claim is held */
    const goneWhileClaimHeld = async (clientId: string): Promise<MashroomWebSocketClient> => {
        store.sessions.set(clientId, {owner: 'another node', state: 'waiting', session: alice, messages: ['{"n":1}']});
        const {client, target} = await claimHeld(clientId);
        await client.drop();
        await waitFor(() => server.context.log.find('info', `Client ${clientId} disconnected`).length > 0, 'the server to notice');
        return target;
    };

    it('numbers what is sent during the claim after the messages of the node that held the client', async () => {
        const clientId = newClientId();
        const held = [envelope(4, '{"n":4}'), envelope(5, '{"n":5}')];
        store.sessions.set(clientId, {owner: 'another node', state: 'waiting', session: {...alice, sequenced: true, lastSeq: 5}, messages: held});
        const {client, target} = await claimHeld(clientId, '&lastSeq=3', [DELIVERY_PROTOCOL]);
        const sent = server.service.sendMessage(target, {n: 'during the claim'});
        store.release();
        await sent;
        expect(await client.clientId()).toBe(clientId);
        expect(await client.nextJson()).toEqual({type: 'message', seq: 4, payload: {n: 4}});
        expect(await client.nextJson()).toEqual({type: 'message', seq: 5, payload: {n: 5}});
        // Not 1, which a client of the protocol would drop as a duplicate
        expect(await client.nextJson()).toEqual({type: 'message', seq: 6, payload: {n: 'during the claim'}});
    });

    it('keeps the order of what is sent before and after the connection goes away during the claim', async () => {
        const clientId = newClientId();
        store.sessions.set(clientId, {owner: 'another node', state: 'waiting', session: alice, messages: ['{"n":1}']});
        const {client, target} = await claimHeld(clientId);
        const sends = [server.service.sendMessage(target, {n: 2})];
        await client.drop();
        await waitFor(() => server.context.log.find('info', `Client ${clientId} disconnected`).length > 0, 'the server to notice');
        sends.push(server.service.sendMessage(target, {n: 3}));
        store.release();
        await Promise.all(sends);
        await waitFor(() => store.sessions.get(clientId)?.state === 'waiting', 'the client to wait here');
        // Nothing reached the store before the claim: the claimed messages first, then the queued ones in order
        expect(store.sessions.get(clientId)).toMatchObject({owner: 'this node', messages: ['{"n":1}', '{"n":2}', '{"n":3}']});
        await server.service.sendMessage(target, {n: 4});

        const resumed = await connect(`?clientId=${clientId}`);
        expect(await resumed.clientId()).toBe(clientId);
        for (let n = 1; n <= 4; n++) {
            expect(await resumed.nextJson()).toEqual({n});
        }
        expect(disconnected).toEqual([]);
    });

    it('removes a client for good that is closed during its claim, even if the claim then succeeds', async () => {
        const clientId = newClientId();
        store.sessions.set(clientId, {owner: 'another node', state: 'waiting', session: alice, messages: ['{"n":1}']});
        const {client, target} = await claimHeld(clientId);
        server.service.close(target);
        expect((await client.closed).code).toBe(1000);
        store.release();
        await waitFor(() => !store.sessions.has(clientId), 'the claimed buffer to be deleted');
        await (target as ServerClient).buffered();
        // Not brought back to wait: nothing in the store, unknown to the service, a send is refused
        expect(store.sessions.has(clientId)).toBe(false);
        expect(server.service.getClientCount()).toBe(0);
        await expect(server.service.sendMessage(target, {late: true})).rejects.toThrow('is closed');
        expect(disconnected).toEqual([clientId]);
    });

    it('lets a second connection that comes while the claim of the first runs wait for that claim and resume', async () => {
        const clientId = newClientId();
        const target = await goneWhileClaimHeld(clientId);
        const second = await connect(`?clientId=${clientId}`);
        const sent = server.service.sendMessage(target, {n: 2});
        store.release();
        await sent;
        expect(await second.clientId()).toBe(clientId);
        expect(await second.nextJson()).toEqual({n: 1});
        expect(await second.nextJson()).toEqual({n: 2});
        // One claim for both connections, and the client is open on the second
        expect(store.claimsAsked.filter((id) => id === clientId)).toHaveLength(1);
        expect((target as ServerClient).state).toBe('open');
        await server.service.sendMessage(target, {n: 3});
        expect(await second.nextJson()).toEqual({n: 3});
        expect(disconnected).toEqual([]);
    });

    it('serves a second connection as a new client when the claim both waited for finds nothing', async () => {
        const clientId = newClientId();
        const {client: first} = await claimHeld(clientId);
        await first.drop();
        await waitFor(() => server.context.log.find('info', `Client ${clientId} disconnected`).length > 0, 'the server to notice');
        const second = await connect(`?clientId=${clientId}`);
        store.release();
        const newId = await second.clientId();
        expect(newId).not.toBe(clientId);
        expect(server.service.getClientsOfUser('alice').map((client) => client.clientId)).toEqual([newId]);
        // Nobody was told of a client that never existed here
        expect(disconnected).toEqual([]);
        expect(store.sessions.has(clientId)).toBe(false);
    });

    it('holds no more for a client whose connection went away during its claim than its buffer takes, and gives it up then', async () => {
        const clientId = newClientId();
        const target = await goneWhileClaimHeld(clientId);
        // 1.2 MB for a 1 MiB buffer: the fourth is refused at once, which leaves a gap
        const big = 'x'.repeat(300_000);
        const sends = [1, 2, 3, 4].map((n) => server.service.sendMessage(target, {n, big}));
        await expect(sends[3]).rejects.toThrow('would exceed reconnectMessageBufferMaxBytes (1048576) while it was being claimed');
        store.release();
        const outcomes = await Promise.allSettled(sends.slice(0, 3));
        expect(outcomes.map((outcome) => outcome.status)).toEqual(['rejected', 'rejected', 'rejected']);
        // Claimed, so it was here; with a gap it cannot resume: removed, its buffer too, its listeners told once
        await waitFor(() => disconnected.length === 1, 'the client to be given up');
        expect(disconnected).toEqual([clientId]);
        expect(server.context.log.find('warn', `Client ${clientId} cannot resume in full`)).toHaveLength(1);
        await (target as ServerClient).buffered();
        expect(store.sessions.has(clientId)).toBe(false);
        const again = await connect(`?clientId=${clientId}`);
        expect(await again.clientId()).not.toBe(clientId);
    });

    it('gives a second connection a fresh client, not a gap, when a send was refused during the claim', async () => {
        const clientId = newClientId();
        const target = await goneWhileClaimHeld(clientId);
        const big = 'x'.repeat(300_000);
        const sends = [1, 2, 3, 4].map((n) => server.service.sendMessage(target, {n, big}));
        const settled = Promise.allSettled(sends);
        await expect(sends[3]).rejects.toThrow('while it was being claimed');
        const second = await connect(`?clientId=${clientId}`);
        store.release();
        expect(await second.clientId()).not.toBe(clientId);
        expect(server.context.log.find('warn', `Client ${clientId} cannot resume`)).toHaveLength(1);
        // What was queued for it is refused with it
        expect((await settled).map((outcome) => outcome.status)).toEqual(['rejected', 'rejected', 'rejected', 'rejected']);
        await (target as ServerClient).buffered();
        expect(store.sessions.has(clientId)).toBe(false);
        expect(disconnected).toEqual([clientId]);
    });

    it('holds no more for a client whose connection waits for its claim than its buffer takes, and starts that connection afresh', async () => {
        const clientId = newClientId();
        store.sessions.set(clientId, {owner: 'another node', state: 'waiting', session: alice, messages: ['{"n":0}']});
        const {client, target} = await claimHeld(clientId);
        // 1.2 MB for a 1 MiB buffer while the connection waits: the fourth is refused at once, which leaves a gap
        const big = 'x'.repeat(300_000);
        const sends = [1, 2, 3, 4].map((n) => server.service.sendMessage(target, {n, big}));
        const settled = Promise.allSettled(sends);
        await expect(sends[3]).rejects.toThrow('would exceed reconnectMessageBufferMaxBytes (1048576) while it was being claimed');
        store.release();
        // Claimed, so it was here; with a gap it cannot resume: no partial replay, the connection gets a new client
        expect(await client.clientId()).not.toBe(clientId);
        expect((await settled).map((outcome) => outcome.status)).toEqual(['rejected', 'rejected', 'rejected', 'rejected']);
        expect(server.context.log.find('warn', `Client ${clientId} cannot resume`)).toHaveLength(1);
        await waitFor(() => disconnected.length === 1, 'the client to be given up');
        expect(disconnected).toEqual([clientId]);
        await (target as ServerClient).buffered();
        expect(store.sessions.has(clientId)).toBe(false);
    });

    it('starts a client afresh that says it has more than the node that held it ever numbered', async () => {
        const clientId = newClientId();
        store.sessions.set(clientId, {owner: 'another node', state: 'waiting', session: {...alice, sequenced: true, lastSeq: 3}, messages: []});
        const socket = new WebSocket(`${server.wsOrigin}/websocket/feed?clientId=${clientId}&lastSeq=57`, [DELIVERY_PROTOCOL], {headers: {cookie: sessionCookie('alice')}});
        const first = await new Promise<{payload: string}>((resolve, reject) => {
            socket.once('message', (data) => resolve(JSON.parse(data.toString()) as {payload: string}));
            socket.once('error', reject);
        });
        expect(first.payload).not.toBe(clientId);
        expect(server.context.log.find('warn', `Client ${clientId} says it has message 57, but only 3 were sent`)).toHaveLength(1);
        socket.close();
    });
});
