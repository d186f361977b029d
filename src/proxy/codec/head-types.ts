/** The parsed heads (head.ts, fields.ts) and their errors. */
export type HeadErrorCode =
  | 'bad_request_line'
  | 'bad_version'
  | 'bad_header_bytes'
  | 'bad_header_name'
  | 'obs_fold'
  | 'duplicate_host'
  | 'missing_host'
  | 'bad_content_length'
  | 'conflicting_content_length'
  | 'length_and_chunked'
  | 'bad_transfer_encoding'
  | 'unsupported_transfer_encoding'
  | 'bad_status_line';

export class HeadError {
  constructor(
    readonly code: HeadErrorCode,
    readonly detail: string,
  ) {}
}

/** Fields common to requests and responses. `names` are lower-case; `lines` keep the original text. */
export interface HeadFields {
  /** 0 for HTTP/1.0, 1 for HTTP/1.1. */
  minor: 0 | 1;
  names: string[];
  values: string[];
  /** Content-Length, or -1 when absent. */
  contentLength: number;
  chunked: boolean;
  /** `Connection: close` (or HTTP/1.0 without keep-alive). */
  close: boolean;
  /** Lower-case tokens of the Connection header (hop-by-hop names among them). */
  connectionTokens: string[];
  upgrade: string | undefined;
}

export interface RequestHead extends HeadFields {
  method: string;
  target: string;
  host: string | undefined;
}

export interface ResponseHead extends HeadFields {
  status: number;
  reason: string;
}
