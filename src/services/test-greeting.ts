import type {MashroomLogger} from '@mashroom/mashroom/type-definitions';
import type {MashroomWebSocketMatcher, MashroomWebSocketMessageListener, MashroomWebSocketService} from '../../type-definitions';

export const TEST_CONNECT_PATH = '/test';
export const GREETING_DELAY_MS = 1_000;

/**
 * The counterpart of the test page: every message on `/test` is answered about a second later with a
 * greeting for the user. Returns the function that removes the listener and cancels pending greetings.
 */
export const registerTestGreeting = (service: MashroomWebSocketService, logger: MashroomLogger): (() => void) => {
    const pending = new Set<NodeJS.Timeout>();

    const matcher: MashroomWebSocketMatcher = (connectPath) => connectPath === TEST_CONNECT_PATH;
    const listener: MashroomWebSocketMessageListener = (message, client) => {
        logger.withContext(client.loggerContext).info(`Test message from user ${client.user.username}`);
        const timer = setTimeout(() => {
            pending.delete(timer);
            const greetings = `Hello ${client.user.displayName || client.user.username}!`;
            service.sendMessage(client, {greetings}).catch((error: unknown) => {
                logger.withContext(client.loggerContext).info(`Could not greet client ${client.clientId}: ${(error as Error).message}`);
            });
        }, GREETING_DELAY_MS);
        pending.add(timer);
    };

    service.addMessageListener(matcher, listener);
    return () => {
        service.removeMessageListener(matcher, listener);
        pending.forEach((timer) => clearTimeout(timer));
        pending.clear();
    };
};
