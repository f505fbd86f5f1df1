import {execFile} from 'child_process';
import {join} from 'path';
import {EndOfTurn} from '../../src/transport/end-of-turn';

describe('EndOfTurn', () => {
    const turns = new EndOfTurn();
    const atEndOfTurn = (job: () => void): void => turns.atEnd(job);

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

    it('runs the other jobs when one throws, and lets the error end the process as an unhandled rejection', async () => {
        // In a process of its own (Jest catches unhandled rejections itself), with the build of `npm test`
        const script = [
            `const {EndOfTurn} = require(${JSON.stringify(join(__dirname, '../../dist/transport/end-of-turn.js'))});`,
            'const turns = new EndOfTurn();',
            "turns.atEnd(() => { throw new Error('job failed'); });",
            "turns.atEnd(() => console.log('after the failure'));",
        ].join('\n');
        const outcome = await new Promise<{code: number | null; stdout: string; stderr: string}>((resolve) => {
            execFile(process.execPath, ['-e', script], (error, stdout, stderr) => resolve({code: error ? (error.code as number) : 0, stdout, stderr}));
        });
        expect(outcome.stdout).toBe('after the failure\n');
        expect(outcome.stderr).toContain('job failed');
        expect(outcome.code).toBe(1);
    });
});
