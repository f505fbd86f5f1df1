type Pingable = {pingForAck(): void};

/**
 * Asks for acknowledgements a short while after frames were sent: clients that sent frames no ping asked
 * about yet are pinged together, once per delay, with one timer for all. Idle clients are never pinged here.
 */
export class AckScheduler {

    private readonly waiting = new Set<Pingable>();
    private timer: NodeJS.Timeout | null = null;
    private readonly run = (): void => {
        this.timer = null;
        const clients = Array.from(this.waiting);
        this.waiting.clear();
        clients.forEach((client) => client.pingForAck());
    };

    constructor(private readonly delayMs: number) {
    }

    want(client: Pingable): void {
        this.waiting.add(client);
        if (!this.timer) {
            this.timer = setTimeout(this.run, this.delayMs);
            this.timer.unref();
        }
    }

    stop(): void {
        if (this.timer) {
            clearTimeout(this.timer);
            this.timer = null;
        }
        this.waiting.clear();
    }
}
