/**
 * Wire constants of mux/msgpack version 1 (spec/mux-protocol.md).
 *
 * Theory of operation: everything numeric the protocol defines lives here, with
 * name <-> number maps for error codes and settings, so the codec, the state
 * machine and the driver share one source. Unknown error codes stay numbers
 * (spec 10.3: preserved for reporting, treated as INTERNAL_ERROR for decisions).
 */

export const PREFACE_MAGIC = Uint8Array.of(0x89, 0x4d, 0x55, 0x58, 0x0d, 0x0a, 0x1a);
export const VERSION = 1;
export const PREFACE = Uint8Array.of(...PREFACE_MAGIC, VERSION);
export const FRAME_HEADER_SIZE = 10;
export const MAX_WINDOW = 2 ** 31 - 1;
export const MAX_STREAM_ID = 2 ** 31 - 1;

export const FrameType = {
  DATA: 0x0,
  HEADERS: 0x1,
  RST_STREAM: 0x2,
  SETTINGS: 0x3,
  PING: 0x4,
  GOAWAY: 0x5,
  WINDOW_UPDATE: 0x6,
} as const;
export type FrameTypeName = keyof typeof FrameType;
export const FRAME_TYPE_NAMES: Record<number, FrameTypeName> = Object.fromEntries(
  Object.entries(FrameType).map(([k, v]) => [v, k as FrameTypeName]),
);

export const FLAG_END_STREAM = 0x1;
export const FLAG_ACK = 0x1;

export const ErrorCode = {
  NO_ERROR: 0x0,
  PROTOCOL_ERROR: 0x1,
  INTERNAL_ERROR: 0x2,
  FLOW_CONTROL_ERROR: 0x3,
  SETTINGS_TIMEOUT: 0x4,
  STREAM_CLOSED: 0x5,
  FRAME_SIZE_ERROR: 0x6,
  REFUSED_STREAM: 0x7,
  CANCEL: 0x8,
  COMPRESSION_ERROR: 0x9,
  CONNECT_ERROR: 0xa,
  ENHANCE_YOUR_CALM: 0xb,
  INADEQUATE_SECURITY: 0xc,
  HTTP_1_1_REQUIRED: 0xd,
  UNSUPPORTED_VERSION: 0x100,
  HEADER_LIST_TOO_LARGE: 0x101,
} as const;
export type ErrorCodeName = keyof typeof ErrorCode;
const CODE_NAMES = new Map<number, string>(Object.entries(ErrorCode).map(([k, v]) => [v, k]));

/** `PROTOCOL_ERROR`, or `0x1234` for a code this version does not define. */
export function errorCodeName(code: number): string {
  return CODE_NAMES.get(code) ?? `0x${code.toString(16)}`;
}

export const SettingId = {
  MAX_CONCURRENT_STREAMS: 0x1,
  INITIAL_STREAM_WINDOW: 0x2,
  CONNECTION_WINDOW: 0x3,
  MAX_FRAME_SIZE: 0x4,
  MAX_HEADER_LIST_SIZE: 0x5,
  KEEPALIVE_INTERVAL: 0x6,
} as const;
export type SettingName = keyof typeof SettingId;
export const SETTING_NAMES: Record<number, SettingName> = Object.fromEntries(
  Object.entries(SettingId).map(([k, v]) => [v, k as SettingName]),
);

/** One endpoint's settings, by name (spec 6.1). */
export type Settings = Record<SettingName, number>;

export const DEFAULT_SETTINGS: Readonly<Settings> = Object.freeze({
  MAX_CONCURRENT_STREAMS: 100,
  INITIAL_STREAM_WINDOW: 262144,
  CONNECTION_WINDOW: 1048576,
  MAX_FRAME_SIZE: 65536,
  MAX_HEADER_LIST_SIZE: 65536,
  KEEPALIVE_INTERVAL: 0,
});

/** Valid range and the error code of a value outside it (spec 6.1). */
export const SETTING_RANGES: Record<SettingName, [number, number, number]> = {
  MAX_CONCURRENT_STREAMS: [0, 2 ** 31 - 1, ErrorCode.PROTOCOL_ERROR],
  INITIAL_STREAM_WINDOW: [0, 2 ** 31 - 1, ErrorCode.FLOW_CONTROL_ERROR],
  CONNECTION_WINDOW: [0, 2 ** 31 - 1, ErrorCode.FLOW_CONTROL_ERROR],
  MAX_FRAME_SIZE: [1024, 16777215, ErrorCode.PROTOCOL_ERROR],
  MAX_HEADER_LIST_SIZE: [0, 2 ** 32 - 1, ErrorCode.PROTOCOL_ERROR],
  KEEPALIVE_INTERVAL: [0, 2 ** 32 - 1, ErrorCode.PROTOCOL_ERROR],
};

/** Most entries a SETTINGS map may carry (spec 6). */
export const MAX_SETTINGS_ENTRIES = 32;
/** Local bound on the fields of one received header list (spec 11.1, suggested value). */
export const MAX_HEADER_FIELDS = 256;
