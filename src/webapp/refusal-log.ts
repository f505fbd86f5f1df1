import type {MashroomLogger} from '@mashroom/mashroom/type-definitions';

const WINDOW_MS = 10_000;

/**
 * Refusals of upgrades are caused by clients, anonymous ones included, so a single client could flood the
 * log with them. Each kind of refusal is logged once per ten seconds; the next line of that kind after the
 * quiet period says how many were left out. No timer: nothing to clean up.
 */
export class RefusalLog {

    private readonly windows = new Map<string, {until: number; suppressed: number}>();

    log(logger: MashroomLogger, level: 'warn' | 'error', kind: string, message: string): void {
        const now = Date.now();
        const window = this.windows.get(kind);
        if (window && now < window.until) {
            window.suppressed++;
            return;
        }
        const suffix = window && window.suppressed > 0 ? ` (and ${window.suppressed} more refusal(s) of this kind not logged)` : '';
        logger[level](`${message}${suffix}`);
        this.windows.set(kind, {until: now + WINDOW_MS, suppressed: 0});
    }
}
