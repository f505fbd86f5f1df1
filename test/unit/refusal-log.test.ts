import {RefusalLog} from '../../src/webapp/refusal-log';
import {RecordingLog} from '../helpers/recording-logger';

describe('RefusalLog', () => {
    it('logs each kind of refusal once per ten seconds and then says how many were left out', () => {
        jest.useFakeTimers({now: 0});
        try {
            const log = new RecordingLog();
            const logger = log.factory('test');
            const refusals = new RefusalLog();
            refusals.log(logger, 'warn', 'origin', 'refused 1');
            refusals.log(logger, 'warn', 'origin', 'refused 2');
            refusals.log(logger, 'error', 'timeout', 'timed out');
            refusals.log(logger, 'warn', 'origin', 'refused 3');
            jest.setSystemTime(10_000);
            refusals.log(logger, 'warn', 'origin', 'refused 4');
            refusals.log(logger, 'warn', 'origin', 'refused 5');
            jest.setSystemTime(20_001);
            refusals.log(logger, 'warn', 'origin', 'refused 6');
            expect(log.entries.map(({level, message}) => `${level} ${message}`)).toEqual([
                'warn refused 1',
                'error timed out',
                'warn refused 4 (and 2 more refusal(s) of this kind not logged)',
                'warn refused 6 (and 1 more refusal(s) of this kind not logged)',
            ]);
        } finally {
            jest.useRealTimers();
        }
    });
});
