import type {MashroomLogger} from '@mashroom/mashroom/type-definitions';
import type {ServerClient} from '../client/server-client';

/** Why a line about a client's frame is logged */
export type FrameProblem = 'invalid' | 'unheard';

export type ClientLogThrottleOptions = {
    /** Lines logged per client and problem; what follows is counted */
    readonly linesPerClient: number;
    /** Lines of all clients together per second; what follows is counted */
    readonly linesPerSecond: number;
};

/**
 * The lines about what clients send that is ignored (frames that cannot be read, messages no listener takes): a
 * client that sends them in a loop must not flood the log, nor slow the process with writing it. Each client gets
 * its first few lines per problem, all clients together a few dozen per second; what is not logged is counted,
 * and `flush` (called periodically) says how much in one line.
 */
export class ClientLogThrottle {

    readonly #logged = new WeakMap<ServerClient, Record<FrameProblem, number>>();
    #windowStart = 0;
    #inWindow = 0;
    #suppressed: Record<FrameProblem, number> = {invalid: 0, unheard: 0};
    #suppressedClients = new Set<string>();

    constructor(private readonly options: ClientLogThrottleOptions, private readonly loggerOf: (client: ServerClient) => MashroomLogger) {
    }

    warn(client: ServerClient, problem: FrameProblem, line: () => string): void {
        let logged = this.#logged.get(client);
        if (!logged) {
            logged = {invalid: 0, unheard: 0};
            this.#logged.set(client, logged);
        }
        const now = Date.now();
        if (now - this.#windowStart >= 1000) {
            this.#windowStart = now;
            this.#inWindow = 0;
        }
        if (logged[problem] >= this.options.linesPerClient || this.#inWindow >= this.options.linesPerSecond) {
            this.#suppressed[problem]++;
            this.#suppressedClients.add(client.clientId);
            return;
        }
        logged[problem]++;
        this.#inWindow++;
        const more = logged[problem] === this.options.linesPerClient ? ' (further such lines of this client are only counted)' : '';
        this.loggerOf(client).warn(`${line()}${more}`);
    }

    /** One line for what was not logged since the last flush, if anything */
    flush(logger: MashroomLogger): void {
        const {invalid, unheard} = this.#suppressed;
        if (invalid + unheard === 0) {
            return;
        }
        logger.warn(`Not logged since the last such line: ${invalid} frame(s) that could not be read and ${unheard} message(s) no listener took, from ${this.#suppressedClients.size} client(s)`);
        this.#suppressed = {invalid: 0, unheard: 0};
        this.#suppressedClients = new Set();
    }
}
