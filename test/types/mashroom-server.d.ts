// The part of @mashroom/mashroom's entry module that the demo launcher uses; the package ships no types for it.
declare module '@mashroom/mashroom' {
    import type {MashroomPluginContextHolder} from '@mashroom/mashroom/type-definitions';

    export const mashroomServerContextFactory: (serverRootPath: string) => Promise<{
        readonly server: {
            start(): Promise<void>;
            stop(): Promise<void>;
        };
        readonly pluginContextHolder: MashroomPluginContextHolder;
    }>;
}
