import type {MashroomLogger} from '@mashroom/mashroom/type-definitions';
import type {ServerClient} from '../client/server-client';
import type {ClientConnection} from '../transport/client-connection';
import type {EndOfTurn} from '../transport/end-of-turn';
import {MemoryBudget} from '../transport/memory-budget';
import {isOpen} from '../transport/ws-adapter';
import type {ClientRegistry} from './client-registry';

type Holder = {readonly connection: ClientConnection; readonly held: number; readonly behind: number};

/**
 * Keeps what the process holds for its clients within the memory budget: once it is exceeded, at the end of the
 * turn, the connections furthest behind (see AckTracker.behindBytes) are closed with 1013 until the total is back at
 * three quarters of the budget; beyond one and a half times it, those that hold the most. Their clients go on as
 * after any drop. A connection at or below an equal share of the budget is never closed for it. The rules and why:
 * docs/ARCHITECTURE.md, "Memory budget".
 */
export class MemoryGuard {

    #scheduled = false;
    readonly #check = (): void => {
        this.#scheduled = false;
        this.shed();
    };

    /** The budget of a server, guarded */
    static budget(maxBytes: number, clients: ClientRegistry<ServerClient>, turns: EndOfTurn, logger: MashroomLogger): MemoryBudget {
        const budget: MemoryBudget = new MemoryBudget(maxBytes, () => guard.exceeded());
        const guard = new MemoryGuard(clients, budget, turns, logger);
        return budget;
    }

    private constructor(
        private readonly clients: ClientRegistry<ServerClient>,
        private readonly budget: MemoryBudget,
        private readonly turns: EndOfTurn,
        private readonly logger: MashroomLogger,
    ) {
    }

    /** The budget is exceeded: check at the end of the turn, when its writes are queued */
    exceeded(): void {
        // Until then, a connection sent to that is behind by more than an equal share closes itself
        this.budget.shareLimit = this.shareOfEach();
        if (!this.#scheduled) {
            this.#scheduled = true;
            this.turns.atEnd(this.#check);
        }
    }

    /** An equal share of the budget, for each client */
    private shareOfEach(): number {
        return this.budget.maxBytes / Math.max(1, this.clients.size);
    }

    private shed(): void {
        const {maxBytes, usedBytes} = this.budget;
        const holders: Array<Holder> = [];
        // What connections that are closing already hold is on its way out (within the close grace)
        let leaving = 0;
        for (const client of this.clients.values()) {
            const connection = client.connection;
            if (!connection) {
                continue;
            }
            const held = connection.heldBytes;
            if (held > 0 && isOpen(connection.socket)) {
                // Asked about all it was sent, now rather than after the usual delay: one that reads answers in time,
                // one that has not answered an earlier ping is behind by all of it (this may also close it, as too
                // slow by its own limits)
                connection.pingForAck();
            }
            const behind = held > 0 && isOpen(connection.socket) ? connection.behindBytes : 0;
            if (!isOpen(connection.socket)) {
                leaving += held;
            } else if (held > 0) {
                holders.push({connection, held, behind});
            }
        }
        let staying = usedBytes - leaving;
        if (staying <= maxBytes) {
            return;
        }
        const share = this.budget.shareLimit = this.shareOfEach();
        const target = maxBytes * 3 / 4;
        // Far beyond the budget, what they hold decides, behind or not: memory comes first then
        const weight = staying > maxBytes * 1.5 ? (holder: Holder): number => holder.held : (holder: Holder): number => holder.behind;
        holders.sort((a, b) => weight(b) - weight(a));
        const closing: Array<Holder> = [];
        for (const holder of holders) {
            if (staying <= target || weight(holder) <= share) {
                break;
            }
            staying -= holder.held;
            closing.push(holder);
        }
        this.logger.warn(`The memory budget (memoryBudgetBytes ${maxBytes}) is exceeded: ${usedBytes} bytes held for clients. ${closing.length > 0
            ? `Closing the ${closing.length} connection(s) furthest behind (1013)`
            : 'No connection is behind by more than an equal share: the rest is in flight to clients that read, held during resumes or on its way to the reconnect buffers'}`);
        for (const holder of closing) {
            holder.connection.closeAsTooSlow(`${weight(holder)} bytes ${weight(holder) === holder.behind ? 'behind' : 'held'}, among the most while memoryBudgetBytes (${maxBytes}) is exceeded`);
        }
    }
}
