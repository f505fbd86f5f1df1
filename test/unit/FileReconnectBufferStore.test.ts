import {existsSync} from 'fs';
import {mkdtemp, readdir, rm, writeFile} from 'fs/promises';
import {tmpdir} from 'os';
import {join} from 'path';
import {FileReconnectBufferStore} from '../../src/buffer/FileReconnectBufferStore';
import {newClientId} from '../../src/server/client-id';

describe('FileReconnectBufferStore', () => {
    let root: string;
    let folder: string;

    beforeEach(async () => {
        root = await mkdtemp(join(tmpdir(), 'mashroom-websocket-store-'));
        folder = join(root, 'a', 'b');
    });

    afterEach(async () => {
        await rm(root, {recursive: true, force: true});
    });

    it('creates its folder, including missing parents', async () => {
        await FileReconnectBufferStore.open(folder);
        expect(existsSync(folder)).toBe(true);
    });

    it('fails to open where no folder can be created', async () => {
        const file = join(root, 'file');
        await writeFile(file, '');
        await expect(FileReconnectBufferStore.open(join(file, 'sub'))).rejects.toThrow();
    });

    it('appends in order and reads everything back, messages with newlines in strings included', async () => {
        const store = await FileReconnectBufferStore.open(folder);
        const id = newClientId();
        const messages = [{a: 1}, {text: 'line\nbreak'}, 'plain', [1, 2]].map((message) => JSON.stringify(message));
        await store.append(id, messages.slice(0, 2));
        await store.append(id, messages.slice(2));
        await store.append(id, []);
        expect(await store.readAll(id)).toEqual(messages);
        expect(await readdir(folder)).toEqual([`${id}.ndjson`]);
    });

    it('reads nothing and removes nothing without error for an unknown client', async () => {
        const store = await FileReconnectBufferStore.open(folder);
        expect(await store.readAll(newClientId())).toEqual([]);
        await expect(store.remove(newClientId())).resolves.toBeUndefined();
    });

    it('removes one client buffer', async () => {
        const store = await FileReconnectBufferStore.open(folder);
        const [first, second] = [newClientId(), newClientId()];
        await store.append(first, ['1']);
        await store.append(second, ['2']);
        await store.remove(first);
        expect(await readdir(folder)).toEqual([`${second}.ndjson`]);
    });

    it('clears only its own files', async () => {
        const store = await FileReconnectBufferStore.open(folder);
        await store.append(newClientId(), ['1']);
        await store.append(newClientId(), ['2']);
        await writeFile(join(folder, 'README.txt'), 'not ours');
        await store.clear();
        expect(await readdir(folder)).toEqual(['README.txt']);
    });

    it('recreates its folder when it disappeared', async () => {
        const store = await FileReconnectBufferStore.open(folder);
        await rm(folder, {recursive: true});
        const id = newClientId();
        await store.append(id, ['"after"']);
        expect(await store.readAll(id)).toEqual(['"after"']);
    });

    it('refuses anything but a client id as a file name', async () => {
        const store = await FileReconnectBufferStore.open(folder);
        for (const id of ['../escape', '/etc/passwd', 'x', '']) {
            await expect(store.append(id, ['1'])).rejects.toThrow('not a client id');
            await expect(store.readAll(id)).rejects.toThrow('not a client id');
            await expect(store.remove(id)).rejects.toThrow('not a client id');
        }
        expect(await readdir(root)).toEqual(['a']);
        expect(await readdir(folder)).toEqual([]);
    });
});
