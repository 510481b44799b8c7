/**
 * Flood budgets of spec 11.2, for the client connection.
 *
 * Theory of operation: three counters. Control frames (PING, SETTINGS,
 * WINDOW_UPDATE, RST_STREAM, GOAWAY, with or without ACK) and unknown frames
 * received since the last progress (a non-empty DATA frame accepted or sent),
 * and empty DATA frames without END_STREAM in a row. Going over a budget throws
 * ConnectionViolation(ENHANCE_YOUR_CALM). A PING the server announced as
 * keepalive (its KEEPALIVE_INTERVAL N, at least N/2 after the previous uncounted
 * one, spec 9.3) is not counted.
 */
import { ErrorCode } from "./constants.js";
import { ConnectionViolation } from "./errors.js";

export const BUDGETS = { control: 10_000, unknown: 1_000, emptyData: 10 } as const;

export class FloodBudget {
  private control = 0;
  private unknown = 0;
  private emptyRun = 0;
  private lastFreePing = -Infinity;
  /** Milliseconds clock for the keepalive allowance (replaceable in tests). */
  now: () => number = () => performance.now();

  progress(): void {
    this.control = this.unknown = 0;
  }

  unknownFrame(): void {
    if (++this.unknown > BUDGETS.unknown) this.calm(`${this.unknown} unknown frames without progress`);
  }

  /** A control frame; `keepaliveMs` is the server's KEEPALIVE_INTERVAL for a PING without ACK, else 0. */
  controlFrame(keepaliveMs: number): void {
    if (keepaliveMs) {
      const t = this.now();
      if (t - this.lastFreePing >= keepaliveMs / 2) {
        this.lastFreePing = t;
        return;
      }
    }
    if (++this.control > BUDGETS.control) this.calm(`${this.control} control frames without progress`);
  }

  dataFrame(length: number, endStream: boolean): void {
    if (length > 0) this.emptyRun = 0;
    else if (!endStream && ++this.emptyRun > BUDGETS.emptyData) this.calm(`${this.emptyRun} empty DATA frames in a row`);
  }

  private calm(message: string): never {
    throw new ConnectionViolation(ErrorCode.ENHANCE_YOUR_CALM, message);
  }
}
