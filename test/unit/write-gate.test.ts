import {WriteGate} from '../../src/buffer/write-gate';

/** A write that runs until the test ends it */
const controlled = () => {
    let end: (error?: Error) => void = () => undefined;
    const write = jest.fn(() => new Promise<void>((resolve, reject) => {
        end = (error) => (error ? reject(error) : resolve());
    }));
    return {write, end: (error?: Error) => end(error)};
};
const turn = () => new Promise(setImmediate);

describe('WriteGate', () => {
    it('runs writes at once while they fit together, then one after another in order as room is made', async () => {
        const gate = new WriteGate(100);
        const [a, b, c, d] = [controlled(), controlled(), controlled(), controlled()];
        const done: Array<string> = [];
        void gate.run(60, a.write).then(() => done.push('a'));
        void gate.run(40, b.write).then(() => done.push('b'));
        void gate.run(30, c.write).then(() => done.push('c'));
        // Fits, but c came first
        void gate.run(1, d.write).then(() => done.push('d'));
        await turn();
        expect([a.write, b.write, c.write, d.write].map((write) => write.mock.calls.length)).toEqual([1, 1, 0, 0]);
        a.end();
        await turn();
        expect([c.write, d.write].map((write) => write.mock.calls.length)).toEqual([1, 1]);
        [b, c, d].forEach(({end}) => end());
        await turn();
        expect(done).toEqual(['a', 'b', 'c', 'd']);
    });

    it('runs a write larger than the bound alone, and makes room again when a write fails', async () => {
        const gate = new WriteGate(100);
        const [big, next] = [controlled(), controlled()];
        const failed = gate.run(500, big.write);
        void gate.run(10, next.write);
        await turn();
        expect([big.write.mock.calls.length, next.write.mock.calls.length]).toEqual([1, 0]);
        big.end(new Error('disk full'));
        await expect(failed).rejects.toThrow('disk full');
        expect(next.write).toHaveBeenCalledTimes(1);
    });
});
