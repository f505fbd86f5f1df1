import {ClientRegistry} from '../../src/server/client-registry';

type C = {clientId: string; connectPath: string; user: {username: string}};
const client = (clientId: string, connectPath: string, username: string): C => ({clientId, connectPath, user: {username}});

describe('ClientRegistry', () => {
    it('finds clients by id, path and user, in the order they were added', () => {
        const registry = new ClientRegistry<C>();
        const a = client('a', '/x', 'alice');
        const b = client('b', '/y', 'alice');
        const c = client('c', '/x', 'bob');
        [a, b, c].forEach((each) => registry.add(each));
        expect(registry.size).toBe(3);
        expect(registry.get('b')).toBe(b);
        expect(registry.onPath('/x')).toEqual([a, c]);
        expect(registry.ofUser('alice')).toEqual([a, b]);
        expect(registry.onPath('/none')).toEqual([]);
        expect([...registry.values()]).toEqual([a, b, c]);
    });

    it('removes a client from every index and drops empty index entries', () => {
        const registry = new ClientRegistry<C>();
        const a = client('a', '/x', 'alice');
        registry.add(a);
        expect(registry.remove(a)).toBe(true);
        expect(registry.remove(a)).toBe(false);
        expect(registry.has(a)).toBe(false);
        expect(registry.onPath('/x')).toEqual([]);
        expect(registry.ofUser('alice')).toEqual([]);
        expect(registry.size).toBe(0);
    });

    it('returns copies, so callers may change what they get', () => {
        const registry = new ClientRegistry<C>();
        registry.add(client('a', '/x', 'alice'));
        registry.onPath('/x').pop();
        expect(registry.onPath('/x')).toHaveLength(1);
    });

    it('refuses a duplicate id and does not remove another object with the same id', () => {
        const registry = new ClientRegistry<C>();
        const a = client('a', '/x', 'alice');
        registry.add(a);
        expect(() => registry.add(client('a', '/y', 'bob'))).toThrow('Duplicate');
        expect(registry.remove(client('a', '/x', 'alice'))).toBe(false);
        expect(registry.get('a')).toBe(a);
    });
});
