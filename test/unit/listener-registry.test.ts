import {ListenerRegistry} from '../../src/server/listener-registry';
import {RecordingLog} from '../helpers/recording-logger';
import type {MashroomWebSocketClient} from '../../type-definitions';

const client = {clientId: 'c1', connectPath: '/p', loggerContext: {}, alive: true, user: {username: 'u'}} as unknown as MashroomWebSocketClient;

describe('ListenerRegistry', () => {
    const log = new RecordingLog();
    const logger = log.factory('test');
    let registry: ListenerRegistry;

    beforeEach(() => {
        log.clear();
        registry = new ListenerRegistry(() => logger);
    });

    it('reports whether any listener took the message', () => {
        expect(registry.dispatchMessage({}, client)).toBe(false);
        registry.addMessageListener((path) => path === '/p', jest.fn());
        expect(registry.dispatchMessage({}, client)).toBe(true);
    });

    it('removes only the exact pair, and every copy of it', () => {
        const matcher = () => true;
        const listener = jest.fn();
        const other = jest.fn();
        registry.addMessageListener(matcher, listener);
        registry.addMessageListener(matcher, listener);
        registry.addMessageListener(matcher, other);
        registry.removeMessageListener(() => true, listener);
        registry.dispatchMessage({}, client);
        expect(listener).toHaveBeenCalledTimes(2);
        registry.removeMessageListener(matcher, listener);
        registry.dispatchMessage({}, client);
        expect(listener).toHaveBeenCalledTimes(2);
        expect(other).toHaveBeenCalledTimes(2);
    });

    it('lets a listener remove itself during a dispatch without skipping the others', () => {
        const matcher = () => true;
        const calls: Array<string> = [];
        const first = () => {
            calls.push('first');
            registry.removeMessageListener(matcher, first);
        };
        registry.addMessageListener(matcher, first);
        registry.addMessageListener(matcher, () => calls.push('second'));
        registry.dispatchMessage({}, client);
        registry.dispatchMessage({}, client);
        expect(calls).toEqual(['first', 'second', 'second']);
    });

    it('calls every disconnect listener even if one throws or rejects', async () => {
        const calls: Array<string> = [];
        registry.addDisconnectListener(() => {
            throw new Error('boom');
        });
        registry.addDisconnectListener(async () => {
            throw new Error('async boom');
        });
        registry.addDisconnectListener(() => {
            calls.push('last');
        });
        registry.notifyDisconnect(client);
        expect(calls).toEqual(['last']);
        await new Promise(setImmediate);
        expect(log.find('error', 'A disconnect listener threw')).toHaveLength(1);
        expect(log.find('error', 'A disconnect listener rejected')).toHaveLength(1);
    });

    it('forgets a removed disconnect listener', () => {
        const listener = jest.fn();
        registry.addDisconnectListener(listener);
        registry.removeDisconnectListener(listener);
        registry.notifyDisconnect(client);
        expect(listener).not.toHaveBeenCalled();
    });
});
