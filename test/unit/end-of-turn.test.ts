import {atEndOfTurn} from '../../src/server/end-of-turn';

describe('atEndOfTurn', () => {
    it('runs the jobs of a turn after its synchronous code, in order, once, before the next macrotask', async () => {
        const ran: Array<string> = [];
        atEndOfTurn(() => ran.push('first'));
        atEndOfTurn(() => ran.push('second'));
        ran.push('synchronous');
        await new Promise((resolve) => setImmediate(resolve));
        expect(ran).toEqual(['synchronous', 'first', 'second']);
    });

    it('runs a job asked for by a job in the same pass, and schedules afresh in the next turn', async () => {
        const ran: Array<string> = [];
        atEndOfTurn(() => {
            ran.push('outer');
            atEndOfTurn(() => ran.push('inner'));
        });
        await Promise.resolve();
        expect(ran).toEqual(['outer', 'inner']);
        atEndOfTurn(() => ran.push('next turn'));
        await new Promise((resolve) => setImmediate(resolve));
        expect(ran).toEqual(['outer', 'inner', 'next turn']);
    });
});
