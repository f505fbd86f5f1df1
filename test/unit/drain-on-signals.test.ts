import {drainOnSignals} from '../../src/webapp/drain-on-signals';
import {RecordingLog} from '../helpers/recording-logger';
import {waitFor} from '../helpers/wait';

/*
 * The handlers are called through process.emit, as Node calls them for a signal. Another listener (standing in for
 * Mashroom's own) is registered for each signal, so that ours does not raise it again and end the test process.
 */
describe('draining on SIGINT and SIGTERM', () => {
    const mashroomsOwn = (): void => undefined;
    let stop: () => void = () => undefined;

    beforeEach(() => {
        process.on('SIGINT', mashroomsOwn);
        process.on('SIGTERM', mashroomsOwn);
    });

    afterEach(() => {
        stop();
        process.off('SIGINT', mashroomsOwn);
        process.off('SIGTERM', mashroomsOwn);
    });

    it.each([
        ['drains', () => Promise.resolve(), 0],
        ['fails to drain', () => Promise.reject(new Error('store gone')), 1],
    ])('on SIGINT drains at once, and steps aside once it %s, so that the process ends as without it', async (_what, outcome, errors) => {
        const log = new RecordingLog();
        const drain = jest.fn(outcome);
        const before = process.listenerCount('SIGINT');
        stop = drainOnSignals(drain, log.factory('test'), {});
        expect(process.listenerCount('SIGINT')).toBe(before + 1);

        process.emit('SIGINT');
        expect(drain).toHaveBeenCalledTimes(1);
        await waitFor(() => process.listenerCount('SIGINT') === before, 'the handler to step aside');
        expect(log.find('error', 'Draining the WebSocket server failed')).toHaveLength(errors);
    });

    it('on SIGTERM waits WAIT_BEFORE_SERVER_CLOSE seconds, as Mashroom does, and drains once for repeated signals', async () => {
        jest.useFakeTimers({doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask']});
        try {
            const log = new RecordingLog();
            const drain = jest.fn(() => Promise.resolve());
            stop = drainOnSignals(drain, log.factory('test'), {WAIT_BEFORE_SERVER_CLOSE: '3'});
            process.emit('SIGTERM');
            process.emit('SIGTERM');
            jest.advanceTimersByTime(2999);
            expect(drain).not.toHaveBeenCalled();
            jest.advanceTimersByTime(1);
            expect(drain).toHaveBeenCalledTimes(1);
            expect(log.find('info', 'SIGTERM: draining the WebSocket server in 3s (WAIT_BEFORE_SERVER_CLOSE)')).toHaveLength(2);
        } finally {
            jest.useRealTimers();
        }
    });
});
