/** Fixed-capacity FIFO buffer: pushing onto a full buffer drops the oldest item. */
export class RingBuffer {
  #items;
  #start = 0;
  #length = 0;

  constructor(capacity) {
    if (!Number.isInteger(capacity) || capacity < 1) {
      throw new RangeError(`ring buffer capacity must be a positive integer, got ${capacity}`);
    }
    this.#items = new Array(capacity);
  }

  get capacity() {
    return this.#items.length;
  }

  get length() {
    return this.#length;
  }

  push(item) {
    const end = (this.#start + this.#length) % this.capacity;
    this.#items[end] = item;
    if (this.#length < this.capacity) {
      this.#length += 1;
    } else {
      this.#start = (this.#start + 1) % this.capacity;
    }
  }

  /** Returns the oldest item, or undefined when empty. */
  first() {
    return this.#length > 0 ? this.#items[this.#start] : undefined;
  }

  /** Returns the newest item, or undefined when empty. */
  last() {
    return this.#length > 0 ? this.#items[(this.#start + this.#length - 1) % this.capacity] : undefined;
  }

  /** Removes and returns the oldest item, or undefined when empty. */
  shift() {
    if (this.#length === 0) {
      return undefined;
    }
    const item = this.#items[this.#start];
    this.#items[this.#start] = undefined;
    this.#start = (this.#start + 1) % this.capacity;
    this.#length -= 1;
    return item;
  }

  clear() {
    this.#items.fill(undefined);
    this.#start = 0;
    this.#length = 0;
  }

  /** Iterates from oldest to newest. */
  *[Symbol.iterator]() {
    for (let i = 0; i < this.#length; i += 1) {
      yield this.#items[(this.#start + i) % this.capacity];
    }
  }
}
