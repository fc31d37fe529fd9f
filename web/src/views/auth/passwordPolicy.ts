/**
 * The server's password rule (chalicelib/service_layer/auth.py `check_password_strength`:
 * 10 to 128 characters, nothing else), checked here before sending so a form can say
 * what is wrong next to the field; the server checks again.
 */

/** The shortest password the server accepts. */
export const PASSWORD_MIN_LENGTH = 10;
/** The longest password the server accepts. */
export const PASSWORD_MAX_LENGTH = 128;

/** The rule in words, shown as the new password's hint. */
export const PASSWORD_HINT =
  `${PASSWORD_MIN_LENGTH} to ${PASSWORD_MAX_LENGTH} characters. A long passphrase of a few unrelated words is strong and easy to remember.`;

/** Why `password` would be refused as a new password, or null when it is acceptable. */
export function passwordProblem(password: string): string | null {
  if (password.length < PASSWORD_MIN_LENGTH) {
    return `Use at least ${PASSWORD_MIN_LENGTH} characters (${password.length} so far).`;
  }
  if (password.length > PASSWORD_MAX_LENGTH) {
    return `Use at most ${PASSWORD_MAX_LENGTH} characters.`;
  }
  return null;
}

/** Why the confirmation does not confirm `password`, or null when both match. */
export function confirmationProblem(password: string, confirmation: string): string | null {
  return password === confirmation ? null : "The two passwords are not the same.";
}
