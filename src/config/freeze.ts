/** Freeze plain objects and arrays all the way down. Buffers cannot be frozen and are left as is. */
export function deepFreeze<T>(value: T): T {
  if (value === null || typeof value !== 'object' || Buffer.isBuffer(value) || Object.isFrozen(value)) return value;
  for (const key of Reflect.ownKeys(value)) deepFreeze((value as Record<PropertyKey, unknown>)[key]);
  return Object.freeze(value);
}
