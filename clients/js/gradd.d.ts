// gradd.d.ts -- TypeScript declarations of gradd.js, the client of the
// gradd gradient service. Checked by tests/clients/types/check.ts (tsc
// --strict, run by make test-clients).

export declare const DEFAULT_TIMEOUT_MS: number;
export declare const DEFAULT_RETRIES: number;

/** A tensor as the API carries it: a number, nested arrays of numbers
 * (non-finite values as "NaN", "Infinity", "-Infinity"), or base64 of
 * little-endian floats in the graph's dtype. */
export type Tensor = number | string | NestedNumbers | B64Tensor;
export type NestedNumbers = Array<number | string | NestedNumbers>;
export interface B64Tensor {
  shape: number[];
  b64: string;
  /** The width of the values: converted to the graph's dtype by the daemon. */
  datatype?: "FP32" | "FP64";
}
export type Tensors = Record<string, Tensor>;

/** A long-form graph: declared leaves (shapes, -1 for a batch axis), nodes
 * by expression or by op, and the node that is the loss. */
export interface LongGraph {
  inputs?: Record<string, number[]>;
  params?: Record<string, number[]>;
  nodes: Array<{ name: string; expr?: string; op?: string; inputs?: string[]; [attribute: string]: unknown }>;
  loss?: string;
  outputs?: string[];
  dtype?: Dtype;
}
export type Graph = string | LongGraph;
export type Dtype = "float64" | "float32";

export interface Optimizer {
  name: "sgd" | "adam" | "adamw" | string;
  lr?: number;
  momentum?: number;
  [setting: string]: unknown;
}

/** Fields every computing route takes. */
export interface BaseRequest {
  graph: Graph;
  inputs?: Tensors;
  params?: Tensors;
  dtype?: Dtype;
  encoding?: "json" | "b64";
  [field: string]: unknown;
}
export interface ForwardRequest extends BaseRequest { outputs?: string[] }
export interface GradientRequest extends BaseRequest { wrt?: string[]; outputs?: string[] }
export interface StepRequest extends BaseRequest {
  optimizer?: Optimizer;
  state?: OptimizerState;
  steps?: number;
  batches?: Tensors[];
  wrt?: string[];
  return_gradients?: boolean;
}
export interface JvpRequest extends BaseRequest { tangents: Tensors; outputs?: string[] }
export interface HvpRequest extends BaseRequest { vector: Tensors; wrt?: string[] }
export interface CheckRequest extends BaseRequest { wrt?: string[]; eps?: number }
export interface GradientGraphRequest extends BaseRequest { wrt?: string[] }
export interface ShapesRequest {
  graph: Graph;
  inputs?: Tensors;
  params?: Tensors;
  dtype?: Dtype;
  outputs?: string[];
}

/** What a request cost: nodes, instructions, flops, timings. */
export type Stats = Record<string, number>;
/** An optimizer's state: the step count and per-param tensors (m, v, velocity, ...). */
export type OptimizerState = { step?: number } & Record<string, number | Tensors | undefined>;

export interface ForwardResponse { values: Tensors; stats: Stats }
export interface GradientResponse { values: Tensors; gradients: Tensors; stats: Stats }
export interface StepResponse {
  params: Tensors;
  state: OptimizerState;
  losses: Array<number | string>;
  stats: Stats;
  gradients?: Tensors;
  completed_steps?: number;
  stopped?: string;
  [field: string]: unknown;
}
export interface JvpResponse { values: Tensors; tangents: Tensors; stats: Stats }
export interface HvpResponse { values: Tensors; hvp: Tensors; stats: Stats }
export interface CheckResponse { values: Tensors; check: Record<string, unknown>; stats: Stats }
export interface GradientGraphResponse { graph: LongGraph; gradients: Record<string, string>; stats: Stats }
/** What the graph store holds under a ref (POST /v1/graphs, GET /v1/graphs/{ref}). */
export interface GraphSummary {
  ref: string;
  format: "onnx" | "json";
  inputs: Record<string, number[] | null>;
  outputs: Record<string, number[] | null>;
  params: Record<string, number[]>;
  ops: Record<string, number>;
  [field: string]: unknown;
}
export interface ShapesResponse { shapes: Record<string, number[]>; [field: string]: unknown }
export interface OpsResponse { ops: Array<{ name: string; [field: string]: unknown }>; [field: string]: unknown }

/** One line of a streamed /v1/step before the last: the step just taken. */
export interface StepProgress {
  step: number;
  loss: number | string;
  elapsed_ms: number;
}
/** A line of a streamed /v1/step: progress, then the final answer. */
export type StepStreamLine = StepProgress | StepResponse;

export interface ClientOptions {
  /** Sent as "Authorization: Bearer <key>". */
  apiKey?: string | null;
  /** Bound on every request (default 30000). */
  timeoutMs?: number;
  /** Times a 503 or an unreachable daemon is retried (default 4; 0: never). */
  retries?: number;
  /** Wait before the first retry, doubled each time (default 50). */
  backoffMs?: number;
  /** Cap of the doubling wait (default 2000). */
  maxBackoffMs?: number;
}
export interface RequestOptions { timeoutMs?: number }
export interface StreamOptions { timeoutMs?: number; reportEvery?: number }

/** A request gradd refused (status 400-504) or that did not reach it
 * (status 0, code "unreachable" or "timeout"). */
export declare class GraddError extends Error {
  constructor(status: number, code: string, path: string, message: string, retryAfter?: number | null);
  readonly status: number;
  readonly code: string;
  readonly path: string;
  /** gradd's sentence. */
  readonly error: string;
  /** Seconds from a 503's Retry-After, else null. */
  readonly retryAfter: number | null;
}

export declare class Client {
  constructor(url: string, options?: ClientOptions);
  readonly url: string;
  apiKey: string | null;
  timeoutMs: number;
  retries: number;
  backoffMs: number;
  maxBackoffMs: number;
  /** How the client waits between attempts. */
  sleep: (ms: number) => Promise<void>;
  retryDelayMs(attempt: number, retryAfter?: number | null): number;
  request(method: string, path: string, body?: unknown, options?: RequestOptions): Promise<any>;
  post(route: string, req: unknown, options?: RequestOptions): Promise<any>;
  /** The graph store's ref of graph (an ONNX model's bytes or a graph object), remembered for re-uploads. */
  rememberGraph(graph: Uint8Array | ArrayBuffer | object): Promise<string>;
  /** POST /v1/graphs: store graph; its summary. Requests name it as graph: {ref}. */
  uploadGraph(graph: Uint8Array | ArrayBuffer | object, options?: RequestOptions): Promise<GraphSummary>;
  /** GET /v1/graphs/{ref}. */
  graphSummary(ref: string, options?: RequestOptions): Promise<GraphSummary>;
  forward(req: ForwardRequest, options?: RequestOptions): Promise<ForwardResponse>;
  gradient(req: GradientRequest, options?: RequestOptions): Promise<GradientResponse>;
  step(req: StepRequest, options?: RequestOptions): Promise<StepResponse>;
  stepStream(req: StepRequest, options?: StreamOptions): AsyncGenerator<StepStreamLine, void, undefined>;
  jvp(req: JvpRequest, options?: RequestOptions): Promise<JvpResponse>;
  hvp(req: HvpRequest, options?: RequestOptions): Promise<HvpResponse>;
  check(req: CheckRequest, options?: RequestOptions): Promise<CheckResponse>;
  gradientGraph(req: GradientGraphRequest, options?: RequestOptions): Promise<GradientGraphResponse>;
  shapes(req: ShapesRequest, options?: RequestOptions): Promise<ShapesResponse>;
  ops(options?: RequestOptions): Promise<OpsResponse>;
}

/** Float64Array (or any array of numbers) -> base64 of little-endian float64s. */
export declare function float64ToBase64(values: ArrayLike<number>): string;
/** base64 of little-endian float64s -> Float64Array. */
export declare function base64ToFloat64(b64: string): Float64Array;
/** Float32Array (or any array of numbers) -> base64 of little-endian float32s. */
export declare function float32ToBase64(values: ArrayLike<number>): string;
/** base64 of little-endian float32s -> Float32Array. */
export declare function base64ToFloat32(b64: string): Float32Array;
/** A {shape, b64} tensor from a Float64Array or Float32Array (row-major). */
export declare function b64Tensor(values: Float64Array | Float32Array | number[], shape?: number[]): B64Tensor;
/** The values of a {shape, b64} tensor: Float64Array, or Float32Array for "float32". */
export declare function fromB64Tensor(tensor: B64Tensor, dtype?: Dtype): Float64Array | Float32Array;
