import type WebSocket from 'ws';
import {BufferBudget} from '../../src/buffer/buffer-budget';
import {WriteGate} from '../../src/buffer/write-gate';
import {MemoryBudget} from '../../src/transport/memory-budget';
import type {BufferedSession, ClaimedBuffer, ReconnectBufferStore} from '../../src/buffer/reconnect-buffer-store';
import type {ClientHost} from '../../src/client/client-host';
import {ServerClient} from '../../src/client/server-client';
import type {ClientConnection, ConnectionEnv, Undelivered} from '../../src/transport/client-connection';
import type {PendingMessage} from '../../src/transport/pending-message';
import {RecordingLog} from '../helpers/recording-logger';
import {USERS} from '../helpers/test-plugin-context';

/** A connection that records what the client does with it; a message counts as written when delivered */
class FakeConnection implements ClientConnection {
    readonly events: Array<string> = [];
    /** Messages delivered and not acknowledged, as a real connection would hand them back */
    private unacknowledged: Array<string> = [];
    failReplay = false;
    readonly heldBytes = 0;
    readonly behindBytes = 0;
    /** A frame whose delivery throws */
    failDeliveryOf: string | null = null;

    constructor(readonly socket: WebSocket) {
    }

    deliver(frame: string, pending: PendingMessage | null): Promise<void> {
        if (frame === this.failDeliveryOf) {
            throw new Error('the delivery failed');
        }
        this.events.push(frame);
        this.unacknowledged.push(frame);
        pending?.resolve();
        return pending ? pending.promise : Promise.resolve();
    }

    sendUntracked(data: string | Buffer): void {
        this.events.push(`(untracked) ${data.toString()}`);
    }

    replay(idFrame: string, frames: ReadonlyArray<string>): void {
        if (this.failReplay) {
            throw new Error('the replay failed');
        }
        this.events.push(`(id) ${idFrame}`);
        frames.forEach((frame) => this.deliver(frame, null));
    }

    ping(): void {
        this.events.push('(ping)');
    }

    pingForAck(): void {
        this.events.push('(ping for ack)');
    }

    probe(): Promise<'alive' | 'gone'> {
        return Promise.resolve('alive');
    }

    closeAsTooSlow(): void {
        this.events.push('(too slow)');
    }

    terminate(): void {
        this.events.push('(terminate)');
    }

    end(code: number): Undelivered {
        this.events.push(`(end ${code})`);
        return this.detach();
    }

    detach(): Undelivered {
        this.events.push('(detach)');
        const frames = this.unacknowledged;
        this.unacknowledged = [];
        return {frames, pending: []};
    }
}

/** A store in memory whose claims the test answers when it likes */
class HeldStore implements ReconnectBufferStore {
    readonly description = 'in memory';
    readonly available = true;
    readonly buffers = new Map<string, Array<string>>();
    readonly claims: Array<() => void> = [];

    async open(clientId: string, session: BufferedSession, ttlMs: number, messages: ReadonlyArray<string>): Promise<void> {
        this.buffers.set(clientId, [...this.buffers.get(clientId) ?? [], ...messages]);
    }

    async append(clientId: string, messages: ReadonlyArray<string>): Promise<void> {
        this.buffers.get(clientId)?.push(...messages);
    }

    async claim(clientId: string): Promise<ClaimedBuffer> {
        await new Promise<void>((resolve) => this.claims.push(resolve));
        return {messages: [...this.buffers.get(clientId) ?? []], recorded: null, session: null};
    }

    async remove(clientId: string): Promise<void> {
        this.buffers.delete(clientId);
    }

    mayHold(): boolean {
        return false;
    }

    async waits(): Promise<boolean> {
        return false;
    }

    async restore(): Promise<number> {
        return 0;
    }

    async seal(): Promise<ReadonlyArray<string>> {
        // Nothing outlives the test
        return [];
    }

    async clear(): Promise<void> {
        this.buffers.clear();
    }

    onClaimedElsewhere(): void {
        // One node
    }

    async close(): Promise<void> {
        // Nothing held
    }

    answerClaims(): void {
        this.claims.splice(0).forEach((answer) => answer());
    }
}

const socket = (name: string): WebSocket => ({name} as unknown as WebSocket);
const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/*
 * The lifecycle of a client against fake connections: the transitions, in an order a real socket could not be
 * made to keep reliably
 */
describe('a client\'s lifecycle', () => {
    const log = new RecordingLog();
    const connections: Array<FakeConnection> = [];
    const closed: Array<{client: ServerClient; known: boolean}> = [];
    const clients: Array<ServerClient> = [];
    let store: HeldStore | null;

    const host = (): ClientHost => ({
        get bufferStore() {
            return store;
        },
        reconnectTimeoutMs: 60_000,
        buffers: {maxBytes: 1_000_000, budget: new BufferBudget(10_000_000), memory: new MemoryBudget(1e9, () => undefined), writes: new WriteGate(8 * 1024 * 1024)},
        connections: {bufferMaxBytes: 1_000_000, maxUnsentBytes: 100_000} as ConnectionEnv,
        logger: () => log.factory('test'),
        connect: (webSocket) => {
            const connection = new FakeConnection(webSocket);
            connections.push(connection);
            return connection;
        },
        clientClosed: (client, known) => {
            closed.push({client, known});
        },
    });
    const newClient = (sequenced = false): ServerClient => {
        const client = ServerClient.connected(host(), socket('first'), '/p', USERS.alice, {}, `c${connections.length}`, sequenced);
        clients.push(client);
        return client;
    };

    beforeEach(() => {
        connections.length = 0;
        closed.length = 0;
        store = new HeldStore();
    });

    afterEach(() => {
        store?.answerClaims();
        // No reconnect window left running
        clients.splice(0).forEach((client) => client.close(1000, ''));
    });

    it('is closed for good when its connection goes without buffering, and tells its host once', async () => {
        store = null;
        const client = newClient();
        const [connection] = connections;
        expect(client.connectionLost(connection)).toBe('closed');
        expect(client.state).toBe('closed');
        expect(client.alive).toBe(false);
        expect(closed).toEqual([{client, known: true}]);
        await expect(client.send('1')).rejects.toThrow('is closed');
        // Later news of the old connection changes nothing
        expect(client.connectionLost(connection)).toBe('not-current');
        expect(closed).toHaveLength(1);
    });

    it('numbers what is held during a resume after the replay, and delivers it after the replay', async () => {
        const client = newClient(true);
        await client.send('"a"');
        expect(client.connectionLost(connections[0])).toBe('waiting');
        await client.send('"b"');
        const outcome = client.resume(socket('second'), 0);
        expect(client.state).toBe('resuming');
        expect(client.alive).toBe(true);
        const held = client.send('"c"');
        await turn();
        store?.answerClaims();
        expect(await outcome).toEqual({kind: 'resumed'});
        await held;
        expect(client.state).toBe('open');
        expect(connections[1].events).toEqual([
            expect.stringMatching(/^\(id\) \{"type":"setClientId","payload":"c0","protocol":"mashroom-delivery.v1","ackAfterChars":\d+\}$/),
            '{"type":"message","seq":1,"payload":"a"}',
            '{"type":"message","seq":2,"payload":"b"}',
            '{"type":"message","seq":3,"payload":"c"}',
        ]);
    });

    it('ignores a claim that settles after its connection went away, and resumes the next connection with its own', async () => {
        const client = newClient();
        await client.send('1');
        client.connectionLost(connections[0]);
        const first = client.resume(socket('second'), null);
        await turn();
        // The connection goes before the buffer was read: the client waits again, with what was held
        const held = client.send('2');
        expect(client.connectionLost(connections[1])).toBe('waiting');
        expect(await first).toEqual({kind: 'superseded'});
        await turn();
        store?.answerClaims();
        await held;
        expect(client.state).toBe('waiting');
        expect(connections[1].events).toEqual(['(detach)']);
        const second = client.resume(socket('third'), null);
        await turn();
        store?.answerClaims();
        expect(await second).toEqual({kind: 'resumed'});
        expect(connections[2].events.slice(1)).toEqual(['1', '2']);
    });

    it('is closed with 1011, and tells its host, when the replay fails', async () => {
        const client = newClient();
        client.connectionLost(connections[0]);
        const outcome = client.resume(socket('second'), null);
        connections[1].failReplay = true;
        await turn();
        store?.answerClaims();
        expect(await outcome).toEqual({kind: 'failed'});
        expect(client.state).toBe('closed');
        expect(connections[1].events).toEqual(['(end 1011)', '(detach)']);
        expect(closed).toEqual([{client, known: true}]);
        expect(log.find('error', 'Resuming client c0 failed: closing it (1011)')).toHaveLength(1);
    });

    it('closes itself when the reconnect window passes, and only then', async () => {
        jest.useFakeTimers({doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask']});
        try {
            const client = newClient();
            client.connectionLost(connections[0]);
            jest.advanceTimersByTime(59_999);
            expect(client.state).toBe('waiting');
            jest.advanceTimersByTime(1);
            expect(client.state).toBe('closed');
            expect(closed).toEqual([{client, known: true}]);
        } finally {
            jest.useRealTimers();
        }
    });

    it('refuses a message that would make what is held during a resume larger than its buffer, and every one after it', async () => {
        const client = newClient();
        client.connectionLost(connections[0]);
        const outcome = client.resume(socket('second'), null);
        const big = 'x'.repeat(600_000);
        const first = client.send(big);
        await expect(client.send(big)).rejects.toThrow('would exceed reconnectMessageBufferMaxBytes (1000000) while it was resuming');
        await expect(client.send('1')).rejects.toThrow('while it was resuming');
        await turn();
        store?.answerClaims();
        // With a gap it cannot resume: the connection is handed back for a new client
        expect(await outcome).toEqual({kind: 'fresh', socket: connections[1].socket});
        await expect(first).rejects.toThrow('is closed');
        expect(closed).toEqual([{client, known: true}]);
    });

    it('is closed, not left to wait with a gap, when its connection goes after a message was refused during the read', async () => {
        const client = newClient();
        client.connectionLost(connections[0]);
        const outcome = client.resume(socket('second'), null);
        const big = 'x'.repeat(600_000);
        const first = client.send(big);
        await expect(client.send(big)).rejects.toThrow('while it was resuming');
        const warnings = log.find('warn', 'Client c0 cannot resume in full and is removed').length;
        expect(client.connectionLost(connections[1])).toBe('closed');
        expect(await outcome).toEqual({kind: 'superseded'});
        await expect(first).rejects.toThrow('is closed');
        expect(closed).toEqual([{client, known: true}]);
        expect(log.find('warn', 'Client c0 cannot resume in full and is removed')).toHaveLength(warnings + 1);
        // The claim that settles now changes nothing
        await turn();
        store?.answerClaims();
        await turn();
        expect(client.state).toBe('closed');
    });

    it('refuses what it held, rather than leaving it unsettled, when handing it over after the replay fails', async () => {
        const client = newClient();
        client.connectionLost(connections[0]);
        const outcome = client.resume(socket('second'), null);
        connections[1].failDeliveryOf = '"b"';
        const held = ['"a"', '"b"', '"c"'].map((data) => client.send(data));
        await turn();
        store?.answerClaims();
        expect(await outcome).toEqual({kind: 'failed'});
        const settled = await Promise.allSettled(held);
        // The first was handed over before the fault: it was on the connection, which was closed with 1011
        expect(settled.map((result) => result.status)).toEqual(['fulfilled', 'rejected', 'rejected']);
        expect(connections[1].events).toContain('(end 1011)');
        expect(client.state).toBe('closed');
    });
});
