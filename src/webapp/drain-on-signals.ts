import type {MashroomLogger} from '@mashroom/mashroom/type-definitions';

/**
 * Drain the server when the process is asked to stop, when Mashroom stops: on SIGINT at once, on SIGTERM after
 * WAIT_BEFORE_SERVER_CLOSE seconds as Mashroom waits (Kubernetes takes the pod out of the service meanwhile).
 * Mashroom's own stop closes its HTTP server, which waits for the open connections, and never unloads the plugins:
 * the drain is what ends the WebSockets. Where nobody else handles the signal, it is raised again once the drain
 * is done, so the process ends as it would without us. Returns the function that removes the handlers.
 */
export const drainOnSignals = (drain: () => Promise<void>, logger: MashroomLogger, env: NodeJS.ProcessEnv = process.env): (() => void) => {
    const waitSec = Number.parseInt(env.WAIT_BEFORE_SERVER_CLOSE ?? '', 10);
    const handlers = new Map<NodeJS.Signals, () => void>();
    let timer: NodeJS.Timeout | null = null;
    const handle = (signal: NodeJS.Signals, delayMs: number): void => {
        const handler = (): void => {
            const run = (): void => {
                drain().catch((error: unknown) => logger.error('Draining the WebSocket server failed', error)).finally(() => {
                    // Ended as it would have without us, drained or not
                    process.off(signal, handler);
                    if (process.listenerCount(signal) === 0) {
                        process.kill(process.pid, signal);
                    }
                });
            };
            logger.info(`${signal}: draining the WebSocket server${delayMs > 0 ? ` in ${delayMs / 1000}s (WAIT_BEFORE_SERVER_CLOSE)` : ''}`);
            if (delayMs > 0) {
                timer ??= setTimeout(run, delayMs);
            } else {
                run();
            }
        };
        process.on(signal, handler);
        handlers.set(signal, handler);
    };
    handle('SIGINT', 0);
    handle('SIGTERM', waitSec > 0 ? waitSec * 1000 : 0);
    return () => {
        handlers.forEach((handler, signal) => process.off(signal, handler));
        handlers.clear();
        if (timer) {
            clearTimeout(timer);
        }
    };
};
