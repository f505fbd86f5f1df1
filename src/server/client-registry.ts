type Indexed = {
    readonly clientId: string;
    readonly connectPath: string;
    readonly user: {readonly username: string};
};

/**
 * The clients of a server, indexed for every lookup the service offers: by id in O(1), by connect path
 * and by user in O(clients returned). Iteration follows the order in which the clients were added.
 */
export class ClientRegistry<C extends Indexed> {

    private readonly byId = new Map<string, C>();
    private readonly byPath = new Map<string, Set<C>>();
    private readonly byUser = new Map<string, Set<C>>();

    get size(): number {
        return this.byId.size;
    }

    add(client: C): void {
        if (this.byId.has(client.clientId)) {
            throw new Error(`Duplicate client id ${client.clientId}`);
        }
        this.byId.set(client.clientId, client);
        addToIndex(this.byPath, client.connectPath, client);
        addToIndex(this.byUser, client.user.username, client);
    }

    /** False if the client was not (or no longer) registered */
    remove(client: C): boolean {
        if (this.byId.get(client.clientId) !== client) {
            return false;
        }
        this.byId.delete(client.clientId);
        removeFromIndex(this.byPath, client.connectPath, client);
        removeFromIndex(this.byUser, client.user.username, client);
        return true;
    }

    has(client: C): boolean {
        return this.byId.get(client.clientId) === client;
    }

    get(clientId: string): C | undefined {
        return this.byId.get(clientId);
    }

    onPath(connectPath: string): Array<C> {
        return toArray(this.byPath.get(connectPath));
    }

    ofUser(username: string): Array<C> {
        return toArray(this.byUser.get(username));
    }

    countOfUser(username: string): number {
        return this.byUser.get(username)?.size ?? 0;
    }

    values(): IterableIterator<C> {
        return this.byId.values();
    }
}

const addToIndex = <C>(index: Map<string, Set<C>>, key: string, client: C): void => {
    const set = index.get(key);
    if (set) {
        set.add(client);
    } else {
        index.set(key, new Set([client]));
    }
};

const removeFromIndex = <C>(index: Map<string, Set<C>>, key: string, client: C): void => {
    const set = index.get(key);
    if (set) {
        set.delete(client);
        if (set.size === 0) {
            index.delete(key);
        }
    }
};

const toArray = <C>(set: Set<C> | undefined): Array<C> => (set ? Array.from(set) : []);
