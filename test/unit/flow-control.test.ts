import {closeIfOverShare, cutOffReason} from '../../src/transport/flow-control';
import {MemoryBudget} from '../../src/transport/memory-budget';

const connection = (behindBytes: number, writable = true) => {
    const closed: Array<string> = [];
    return {behindBytes, writable, closed, closeAsTooSlow: (why: string) => closed.push(why)};
};

describe('the memory budget rules of a connection', () => {
    it('closes one sent to while the budget is exceeded if it is behind by more than the share limit, and only then', () => {
        const budget = new MemoryBudget(100, () => undefined);
        const far = connection(50);
        closeIfOverShare(budget, far);
        expect(far.closed).toEqual([]);
        budget.shareLimit = 49;
        closeIfOverShare(budget, far);
        expect(far.closed).toEqual(['50 bytes behind, more than an equal share of memoryBudgetBytes (100), which is exceeded']);
        const near = connection(49);
        const closing = connection(500, false);
        closeIfOverShare(budget, near);
        closeIfOverShare(budget, closing);
        expect([near.closed, closing.closed]).toEqual([[], []]);
    });

    it('cuts off a closing connection that is held back too much, or whose close frame is stuck while the budget is exceeded', () => {
        const memory = new MemoryBudget(100, () => undefined);
        const limits = {maxUnsentBytes: 10, bufferMaxBytes: 1000, memory};
        expect(cutOffReason(11, 0, limits)).toBe('more than maxUnsentBytesPerClient (10) is held for it');
        expect(cutOffReason(10, 5, limits)).toBeNull();
        memory.add(101);
        expect(cutOffReason(10, 5, limits)).toBe('the memory budget (memoryBudgetBytes 100) is exceeded');
        // A close frame that has left the process reaches a client that reads: it gets its 1013
        expect(cutOffReason(10, 0, limits)).toBeNull();
    });
});
