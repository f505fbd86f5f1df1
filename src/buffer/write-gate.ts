type Waiting = {readonly bytes: number; readonly start: () => void};

/**
 * Bounds the bytes of the store writes under way at once, first come first served. A write makes copies of its
 * messages before the store has them (its records, their checksums, the file's or the connection's buffer), so a
 * few hundred clients dropped at once would otherwise each have theirs in memory at the same time. A write
 * larger than the bound runs alone.
 */
export class WriteGate {

    #running = 0;
    readonly #waiting: Array<Waiting> = [];

    constructor(readonly maxBytes: number) {
    }

    /** Run `write` (of about `bytes`) once the writes under way leave room for it */
    async run<T>(bytes: number, write: () => Promise<T>): Promise<T> {
        if (this.#waiting.length > 0 || !this.hasRoomFor(bytes)) {
            await new Promise<void>((start) => this.#waiting.push({bytes, start}));
        } else {
            this.#running += bytes;
        }
        try {
            return await write();
        } finally {
            this.#running -= bytes;
            this.startWaiting();
        }
    }

    private hasRoomFor(bytes: number): boolean {
        return this.#running === 0 || this.#running + bytes <= this.maxBytes;
    }

    private startWaiting(): void {
        while (this.#waiting.length > 0 && this.hasRoomFor(this.#waiting[0].bytes)) {
            const next = this.#waiting.shift() as Waiting;
            this.#running += next.bytes;
            next.start();
        }
    }
}
