declare const __GT_VERSION__: string | undefined;

/** The package version, stamped in by the build; "dev" when running from source. */
export const VERSION: string = typeof __GT_VERSION__ === 'string' ? __GT_VERSION__ : 'dev';
