import type {MashroomLogger} from '@mashroom/mashroom/type-definitions';
import {FileReconnectBufferStore} from '../buffer/file-reconnect-buffer-store';
import {FolderInUseError} from '../buffer/folder-lock';
import type {ReconnectBufferStore} from '../buffer/reconnect-buffer-store';

/**
 * How long a starting instance waits for the buffer folder while another process, or the instance of this process
 * before a plugin reload, still uses it (draining), or until the lease of one that was killed is stale (within
 * LEASE_STALE_MS). Then it gives up, or takes the folder over from an earlier instance of this process, which can no
 * longer be using it.
 */
export const FOLDER_WAIT_MS = 30_000;
const FOLDER_RETRY_MS = 500;

/**
 * Open the buffer folder and take up the clients a drained process left there. If another process still holds
 * the folder (one that is stopping while this one starts, or was killed and has not let go), buffering starts once
 * it lets go or its lease is stale, up to FOLDER_WAIT_MS later; meanwhile it is pending. `use` gets the store when
 * it is ready. Returns a function that stops waiting.
 */
export const openFileStore = (folder: string, logger: MashroomLogger, use: (store: ReconnectBufferStore) => void, giveUp: () => void): {ready: Promise<void>; cancel: () => void} => {
    const deadline = Date.now() + FOLDER_WAIT_MS;
    let timer: NodeJS.Timeout | null = null;
    let cancelled = false;
    let waitingLogged = false;
    let firstAttempt: () => void = () => undefined;
    const ready = new Promise<void>((resolve) => {
        firstAttempt = resolve;
    });
    const attempt = async (): Promise<void> => {
        try {
            const store = await FileReconnectBufferStore.open(folder, Date.now() >= deadline);
            if (cancelled) {
                await store.close();
                return;
            }
            try {
                await store.restore();
            } catch (error) {
                // Not left locked (and its restored clients' timers running) by an instance that does not use it
                await store.close().catch(() => undefined);
                throw error;
            }
            logRestore(store, logger);
            use(store);
        } catch (error) {
            // A lease that is not renewed any more is stale within FOLDER_WAIT_MS, whoever held it
            if (!cancelled && error instanceof FolderInUseError && (error.sameProcess || Date.now() < deadline)) {
                if (!waitingLogged) {
                    waitingLogged = true;
                    logger.warn(`Reconnect message buffering waits for the folder ${folder}: ${error.message}; it is off until then`);
                }
                timer = setTimeout(() => void attempt(), FOLDER_RETRY_MS);
                return;
            }
            logger.error(`Reconnect message buffering is off: the folder ${folder} cannot be used`, error);
            giveUp();
        } finally {
            firstAttempt();
        }
    };
    void attempt();
    return {
        ready,
        cancel: () => {
            cancelled = true;
            if (timer) {
                clearTimeout(timer);
            }
        },
    };
};

const logRestore = (store: FileReconnectBufferStore, logger: MashroomLogger): void => {
    const report = store.lastRestore;
    logger.info(`Reconnect message buffering is on, ${store.description}${report && report.restored > 0 ? `: ${report.restored} client(s) drained by the previous process can resume` : ''}`);
    if (report && report.expired > 0) {
        logger.info(`${report.expired} client(s) drained by the previous process did not come back within their reconnect window`);
    }
    if (report?.problem) {
        logger.error(`The clients drained by the previous process cannot resume: the snapshot in ${store.description} was not used, ${report.problem}`);
    }
};
