import {ClientLogThrottle} from '../../src/server/client-log-throttle';
import type {ServerClient} from '../../src/client/server-client';
import {RecordingLog} from '../helpers/recording-logger';

const client = (clientId: string): ServerClient => ({clientId}) as unknown as ServerClient;

describe('ClientLogThrottle', () => {
    let now = 1_000_000;
    beforeEach(() => {
        jest.spyOn(Date, 'now').mockImplementation(() => now);
    });
    afterEach(() => {
        jest.restoreAllMocks();
    });

    const throttle = (log: RecordingLog): ClientLogThrottle =>
        new ClientLogThrottle({linesPerClient: 3, linesPerSecond: 5}, () => log.factory('test'));

    it('logs the first lines of each client and problem, counts the rest, and says how many in one line at flush', () => {
        const log = new RecordingLog();
        const lines = throttle(log);
        const flooding = client('a');
        for (let n = 0; n < 1000; n++) {
            now += 10;
            lines.warn(flooding, 'invalid', () => `invalid ${n}`);
        }
        lines.warn(flooding, 'unheard', () => 'unheard 0');
        expect(log.entries.map((entry) => entry.message)).toEqual([
            'invalid 0', 'invalid 1', 'invalid 2 (further such lines of this client are only counted)', 'unheard 0',
        ]);
        lines.flush(log.factory('test'));
        expect(log.entries[4].message).toBe('Not logged since the last such line: 997 frame(s) that could not be read and 0 message(s) no listener took, from 1 client(s)');
        // Said once: nothing new, nothing to say
        lines.flush(log.factory('test'));
        expect(log.entries).toHaveLength(5);
    });

    it('logs no more than its lines per second of all clients together', () => {
        const log = new RecordingLog();
        const lines = throttle(log);
        for (let n = 0; n < 20; n++) {
            lines.warn(client(`c${n}`), 'unheard', () => `unheard ${n}`);
        }
        expect(log.entries).toHaveLength(5);
        now += 1000;
        lines.warn(client('late'), 'unheard', () => 'a second later');
        expect(log.entries.map((entry) => entry.message)).toContain('a second later');
        lines.flush(log.factory('test'));
        expect(log.entries[log.entries.length - 1].message).toContain('0 frame(s) that could not be read and 15 message(s) no listener took, from 15 client(s)');
    });
});
