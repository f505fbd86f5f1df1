import {MemoryBudget} from '../../src/transport/memory-budget';

describe('MemoryBudget', () => {
    it('tells its owner when the total passes the limit, and again for every sixteenth it grows beyond', () => {
        let told = 0;
        const budget = new MemoryBudget(1600, () => told++);
        budget.add(1600);
        expect([budget.usedBytes, told]).toEqual([1600, 0]);
        budget.add(1);
        expect(told).toBe(1);
        budget.add(98);
        expect(told).toBe(1);
        budget.add(2);
        expect([budget.usedBytes, told]).toEqual([1701, 2]);
        // Released bytes, then growth again: not told until a sixteenth beyond the last time
        budget.add(-50);
        budget.add(149);
        expect(told).toBe(2);
        budget.add(1);
        expect(told).toBe(3);
    });

    it('forgets the share limit once the total is back within the limit, and tells again when it is passed again', () => {
        let told = 0;
        const budget = new MemoryBudget(1000, () => {
            told++;
            budget.shareLimit = 100;
        });
        budget.add(1001);
        expect([told, budget.shareLimit]).toEqual([1, 100]);
        budget.add(-1);
        expect([told, budget.shareLimit]).toEqual([1, Infinity]);
        budget.add(1);
        expect([told, budget.shareLimit]).toEqual([2, 100]);
    });

    it('says whether it is exceeded, and gives what waits for the store or a replay half of it', () => {
        const budget = new MemoryBudget(10, () => undefined);
        budget.add(4);
        budget.addQueued(4);
        expect([budget.usedBytes, budget.isExceeded, budget.queueWouldExceed(1), budget.queueWouldExceed(2)]).toEqual([8, false, false, true]);
        budget.add(3);
        expect(budget.isExceeded).toBe(true);
        budget.addQueued(-4);
        expect([budget.usedBytes, budget.isExceeded, budget.queueWouldExceed(5)]).toEqual([7, false, false]);
    });
});
