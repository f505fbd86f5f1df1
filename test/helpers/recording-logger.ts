import type {MashroomLogger, MashroomLoggerContext, MashroomLoggerFactory} from '@mashroom/mashroom/type-definitions';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export type LogEntry = {
    readonly level: LogLevel;
    readonly category: string;
    readonly message: string;
    readonly args: ReadonlyArray<unknown>;
    readonly context: Readonly<Record<string, unknown>>;
};

/**
 * A Mashroom logger factory that keeps every line, so tests can assert what was logged.
 * Set TEST_LOG=1 to also print the lines.
 */
export class RecordingLog {

    readonly entries: Array<LogEntry> = [];

    readonly factory: MashroomLoggerFactory;

    constructor(private readonly baseContext: Readonly<Record<string, unknown>> = {}) {
        const create = ((category: string) => this.logger(category, this.baseContext)) as MashroomLoggerFactory;
        create.bindToContext = (context: MashroomLoggerContext) => {
            const bound = ((category: string) => this.logger(category, {...this.baseContext, ...context.get()})) as MashroomLoggerFactory;
            bound.bindToContext = create.bindToContext;
            return bound;
        };
        this.factory = create;
    }

    /** Lines of the given level whose message contains the text */
    find(level: LogLevel, text: string | RegExp): Array<LogEntry> {
        return this.entries.filter((entry) => entry.level === level &&
            (typeof text === 'string' ? entry.message.includes(text) : text.test(entry.message)));
    }

    /** Lines at warn or error level, for asserting that nothing went wrong */
    problems(): Array<LogEntry> {
        return this.entries.filter((entry) => entry.level === 'warn' || entry.level === 'error');
    }

    clear(): void {
        this.entries.length = 0;
    }

    private logger(category: string, context: Readonly<Record<string, unknown>>): MashroomLogger {
        let ownContext = {...context};
        const write = (level: LogLevel) => (message: string, ...args: Array<unknown>): void => {
            this.entries.push({level, category, message, args, context: ownContext});
            if (process.env.TEST_LOG) {
                // eslint-disable-next-line no-console
                console.log(`[${level}] ${category} ${message}`, ...args);
            }
        };
        return {
            debug: write('debug'),
            info: write('info'),
            warn: write('warn'),
            error: write('error'),
            addContext: (more: Record<string, unknown>) => {
                ownContext = {...ownContext, ...more};
            },
            withContext: (more: Record<string, unknown>) => this.logger(category, {...ownContext, ...more}),
            getContext: () => ({...ownContext}),
        };
    }
}
