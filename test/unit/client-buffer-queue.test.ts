import {BufferBudget} from '../../src/buffer/buffer-budget';
import {WriteGate} from '../../src/buffer/write-gate';
import {MemoryBudget} from '../../src/transport/memory-budget';
import {ClientBufferQueue} from '../../src/buffer/client-buffer-queue';
import {BufferLostError} from '../../src/buffer/reconnect-buffer-store';
import type {ClaimedBuffer, ReconnectBufferStore} from '../../src/buffer/reconnect-buffer-store';

/** An in-memory store whose operations finish only when the test says so, and that records each call */
class ControlledStore implements ReconnectBufferStore {
    readonly description = 'memory';
    readonly available = true;
    readonly calls: Array<string> = [];
    readonly content: Array<string> = [];
    private readonly gates: Array<() => void> = [];
    failNextAppend = false;

    append(clientId: string, messages: ReadonlyArray<string>, continuing: boolean): Promise<void> {
        this.calls.push(`append ${messages.join(',')}${continuing ? ' (continuing)' : ''}`);
        return this.gate(() => {
            if (this.failNextAppend) {
                this.failNextAppend = false;
                throw new Error('disk full');
            }
            this.content.push(...messages);
        });
    }

    open(clientId: string, session: unknown, ttlMs: number, messages: ReadonlyArray<string>, continuing: boolean): Promise<void> {
        this.calls.push(`open ${messages.join(',')}${continuing ? ' (continuing)' : ''}`);
        return this.gate(() => {
            this.content.push(...messages);
        });
    }

    claim(): Promise<ClaimedBuffer> {
        this.calls.push('claim');
        return this.gate(() => ({messages: [...this.content], recorded: null, session: null}));
    }

    onClaimedElsewhere(): void {
        // one node
    }

    remove(): Promise<void> {
        this.calls.push('remove');
        return this.gate(() => {
            this.content.length = 0;
        });
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
        this.content.length = 0;
    }

    async close(): Promise<void> {
        // nothing held
    }

    /** Let the oldest pending operation finish */
    async release(): Promise<void> {
        while (this.gates.length === 0) {
            await new Promise(setImmediate);
        }
        this.gates.shift()?.();
        await new Promise(setImmediate);
    }

    private gate<T>(operation: () => T): Promise<T> {
        return new Promise((resolve, reject) => {
            this.gates.push(() => {
                try {
                    resolve(operation());
                } catch (error) {
                    reject(error);
                }
            });
        });
    }
}

const SESSION = {username: 'u', connectPath: '/p', sequenced: false, lastSeq: 0};

describe('ClientBufferQueue', () => {
    let store: ControlledStore;
    let budget: BufferBudget;
    let unusable: Array<string>;
    let memory: MemoryBudget;
    const env = (maxBytes: number) => ({maxBytes, budget, memory, writes: new WriteGate(8 * 1024 * 1024)});
    const queue = (maxBytes = 1_000_000) => new ClientBufferQueue(store, 'id', env(maxBytes), {
        unusable: (reason) => unusable.push(reason.message),
        removeFailed: () => undefined,
    });

    beforeEach(() => {
        store = new ControlledStore();
        budget = new BufferBudget(1_000_000);
        memory = new MemoryBudget(1_000_000_000, () => undefined);
        unusable = [];
    });

    it('merges appends made while the store is busy into one store call, keeping the order', async () => {
        const buffer = queue();
        const done = [buffer.append('1')];
        await new Promise(setImmediate);
        done.push(buffer.append('2'), buffer.append('3'), buffer.append('4'));
        await store.release();
        await store.release();
        await Promise.all(done);
        expect(store.calls).toEqual(['append 1', 'append 2,3,4 (continuing)']);
        expect(store.content).toEqual(['1', '2', '3', '4']);
    });

    it('never lets an append overtake a claim or remove asked for earlier', async () => {
        const buffer = queue();
        const first = buffer.append('a');
        const read = buffer.claim(SESSION);
        const later = buffer.append('b');
        const removed = buffer.remove();
        const last = buffer.append('c');
        for (let i = 0; i < 5; i++) {
            await store.release();
        }
        await Promise.all([first, later, removed, last]);
        expect((await read)?.messages).toEqual(['a']);
        expect(store.calls).toEqual(['append a', 'claim', 'append b (continuing)', 'remove', 'append c']);
        expect(store.content).toEqual(['c']);
    });

    it('makes the buffer unusable when the store fails an append: no gap, every later append refused', async () => {
        const buffer = queue();
        store.failNextAppend = true;
        const failed = buffer.append('x');
        await store.release();
        await expect(failed).rejects.toThrow('disk full');
        await expect(buffer.append('y')).rejects.toThrow('disk full');
        expect(unusable).toEqual(['disk full']);
        expect(store.content).toEqual([]);
    });

    it('finds a buffer shorter than what was stored, and reports it lost', async () => {
        const buffer = queue();
        const stored = buffer.append('1');
        await store.release();
        await stored;
        store.content.length = 0;
        const read = buffer.claim(SESSION);
        await store.release();
        await expect(read).rejects.toThrow(BufferLostError);
        expect(unusable).toEqual([expect.stringContaining('1 message(s) stored, 0 found')]);
    });

    it('refuses the append that would pass maxBytes and every later one, reporting it once', async () => {
        // Each message takes its length plus a newline
        const buffer = queue(10);
        const first = buffer.append('1234');
        await expect(buffer.append('1234567')).rejects.toThrow('would exceed reconnectMessageBufferMaxBytes (10)');
        await expect(buffer.append('')).rejects.toThrow('would exceed');
        expect(unusable).toHaveLength(1);
        // The pending batch belongs to a buffer that can no longer be resumed in full: not even written
        await expect(first).rejects.toThrow('would exceed');
        expect(store.calls).toEqual([]);
    });

    it('starts afresh after a remove, returning its bytes to the budget', async () => {
        budget = new BufferBudget(10);
        const buffer = queue(10);
        const first = buffer.append('123456789');
        await store.release();
        await first;
        expect(budget.usedBytes).toBe(10);
        const removed = buffer.remove();
        await store.release();
        await removed;
        expect(budget.usedBytes).toBe(0);
        const again = buffer.append('123456789');
        await store.release();
        await expect(again).resolves.toBeUndefined();
    });

    it('counts bytes, not characters', async () => {
        await expect(queue(8).append('üüüü')).rejects.toThrow('would exceed');
    });

    it('refuses what does not fit into the budget of all buffers', async () => {
        budget = new BufferBudget(8);
        const other = new ClientBufferQueue(store, 'other', env(100), {unusable: () => undefined, removeFailed: () => undefined});
        const stored = other.append('1234');
        await expect(queue(100).append('1234')).rejects.toThrow('the total of all buffers (8 bytes)');
        await store.release();
        await stored;
    });

    it('settles after everything asked for so far', async () => {
        const buffer = queue();
        buffer.append('1').catch(() => undefined);
        let settled = false;
        const settling = buffer.settled().then(() => {
            settled = true;
        });
        await new Promise(setImmediate);
        expect(settled).toBe(false);
        await store.release();
        await settling;
        expect(settled).toBe(true);
    });

    it('opens with the messages a connection left unacknowledged, in one store call ahead of later appends', async () => {
        const buffer = queue();
        const opened = buffer.open(SESSION, 1000, ['1', '2']);
        const later = buffer.append('3');
        await store.release();
        await store.release();
        await Promise.all([opened, later]);
        expect(store.calls).toEqual(['open 1,2', 'append 3 (continuing)']);
        expect((await Promise.all([buffer.claim(SESSION), store.release()]))[0]?.messages).toEqual(['1', '2', '3']);
    });

    it('refuses to open with more than maxBytes, without a store call, reporting it once', async () => {
        const buffer = queue(10);
        await expect(buffer.open(SESSION, 1000, ['12345', '12345'])).rejects.toThrow('would exceed reconnectMessageBufferMaxBytes (10)');
        await expect(buffer.append('1')).rejects.toThrow('would exceed');
        expect(unusable).toHaveLength(1);
        expect(store.calls).toEqual([]);
    });
});
