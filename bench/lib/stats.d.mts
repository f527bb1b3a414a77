export declare const median: (values: readonly number[]) => number
export declare const percentile: (values: readonly number[], p: number) => number
export declare const round: (value: number, digits?: number) => number
export declare const medianIntervalRanks: (n: number, confidence?: number) => [number, number]
export declare const medianInterval: (values: readonly number[], confidence?: number) => [number, number]
