import {ClientBufferQueue} from '../../src/buffer/ClientBufferQueue';
import type {ReconnectBufferStore} from '../../src/buffer/ReconnectBufferStore';

/** An in-memory store whose operations finish only when the test says so, and that records each call */
class ControlledStore implements ReconnectBufferStore {
    readonly description = 'memory';
    readonly calls: Array<string> = [];
    readonly content: Array<string> = [];
    private readonly gates: Array<() => void> = [];
    failNextAppend = false;

    append(clientId: string, messages: ReadonlyArray<string>): Promise<void> {
        this.calls.push(`append ${messages.join(',')}`);
        return this.gate(() => {
            if (this.failNextAppend) {
                this.failNextAppend = false;
                throw new Error('disk full');
            }
            this.content.push(...messages);
        });
    }

    readAll(): Promise<Array<string>> {
        this.calls.push('readAll');
        return this.gate(() => [...this.content]);
    }

    remove(): Promise<void> {
        this.calls.push('remove');
        return this.gate(() => {
            this.content.length = 0;
        });
    }

    async clear(): Promise<void> {
        this.content.length = 0;
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

describe('ClientBufferQueue', () => {
    it('merges appends made while the store is busy into one store call, keeping the order', async () => {
        const store = new ControlledStore();
        const queue = new ClientBufferQueue(store, 'id', 1_000_000, () => undefined);
        const done = [queue.append('1')];
        await new Promise(setImmediate);
        done.push(queue.append('2'), queue.append('3'), queue.append('4'));
        await store.release();
        await store.release();
        await Promise.all(done);
        expect(store.calls).toEqual(['append 1', 'append 2,3,4']);
        expect(store.content).toEqual(['1', '2', '3', '4']);
    });

    it('never lets an append overtake a read or remove asked for earlier', async () => {
        const store = new ControlledStore();
        const queue = new ClientBufferQueue(store, 'id', 1_000_000, () => undefined);
        const first = queue.append('a');
        const read = queue.readAll();
        const later = queue.append('b');
        const removed = queue.remove();
        const last = queue.append('c');
        for (let i = 0; i < 5; i++) {
            await store.release();
        }
        await Promise.all([first, later, removed, last]);
        expect(await read).toEqual(['a']);
        expect(store.calls).toEqual(['append a', 'readAll', 'append b', 'remove', 'append c']);
        expect(store.content).toEqual(['c']);
    });

    it('rejects the appends of a failed batch and carries on with the next', async () => {
        const store = new ControlledStore();
        const queue = new ClientBufferQueue(store, 'id', 1_000_000, () => undefined);
        store.failNextAppend = true;
        const failed = queue.append('x');
        await store.release();
        await expect(failed).rejects.toThrow('disk full');
        const next = queue.append('y');
        await store.release();
        await expect(next).resolves.toBeUndefined();
        expect(store.content).toEqual(['y']);
    });

    it('settles after everything asked for so far', async () => {
        const store = new ControlledStore();
        const queue = new ClientBufferQueue(store, 'id', 1_000_000, () => undefined);
        queue.append('1').catch(() => undefined);
        let settled = false;
        const settling = queue.settled().then(() => {
            settled = true;
        });
        await new Promise(setImmediate);
        expect(settled).toBe(false);
        await store.release();
        await settling;
        expect(settled).toBe(true);
    });

    it('refuses the append that would pass maxBytes and every later one, reporting the overflow once', async () => {
        const store = new ControlledStore();
        let overflows = 0;
        // Each message takes its length plus a newline
        const queue = new ClientBufferQueue(store, 'id', 10, () => overflows++);
        const first = queue.append('1234');
        const second = queue.append('1234');
        await expect(queue.append('x')).rejects.toThrow('would exceed 10 bytes');
        await expect(queue.append('')).rejects.toThrow('would exceed 10 bytes');
        expect(overflows).toBe(1);
        await store.release();
        await Promise.all([first, second]);
        expect(store.content).toEqual(['1234', '1234']);

        // Removing the buffer starts the count afresh
        const removed = queue.remove();
        await store.release();
        await removed;
        const after = queue.append('123456789');
        await store.release();
        await expect(after).resolves.toBeUndefined();
    });

    it('counts bytes, not characters', async () => {
        const store = new ControlledStore();
        const queue = new ClientBufferQueue(store, 'id', 8, () => undefined);
        await expect(queue.append('üüüü')).rejects.toThrow('would exceed');
    });
});
