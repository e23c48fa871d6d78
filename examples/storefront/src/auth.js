// Sign-in with amazon-cognito-identity-js: SRP (the library's default), so the password never leaves the page.
import { AuthenticationDetails, CognitoUser, CognitoUserPool } from "amazon-cognito-identity-js";

const UNREACHABLE = "Sign-in cannot be reached right now. Please try again.";

export class Auth {
  // `awsEndpoint` points the library at the local AWS endpoint; in AWS, leave it out and Cognito's own is used.
  constructor({ userPoolId, clientId, awsEndpoint }) {
    this.pool = new CognitoUserPool({
      UserPoolId: userPoolId,
      ClientId: clientId,
      ...(awsEndpoint ? { endpoint: `${awsEndpoint.replace(/\/$/, "")}/` } : {}),
    });
  }

  signIn(email, password) {
    const user = new CognitoUser({ Username: email, Pool: this.pool });
    const details = new AuthenticationDetails({ Username: email, Password: password });
    return new Promise((resolve, reject) => {
      user.authenticateUser(details, {
        onSuccess: resolve,
        onFailure: (error) => reject(error.code === "NetworkError" ? new Error(UNREACHABLE) : error),
        newPasswordRequired: () => reject(new Error("This account must set a new password first.")),
      });
    });
  }

  // Who is signed in (the library keeps the tokens in localStorage), or null.
  async currentEmail() {
    const session = await this.session();
    return session ? session.getIdToken().decodePayload().email : null;
  }

  // A current ID token for the API and the socket: getSession refreshes an expired one with the refresh token.
  async idToken() {
    const session = await this.session();
    if (!session) throw new Error("Please sign in again.");
    return session.getIdToken().getJwtToken();
  }

  session() {
    const user = this.pool.getCurrentUser();
    if (!user) return Promise.resolve(null);
    return new Promise((resolve) => user.getSession((error, session) => resolve(error ? null : session)));
  }

  // GlobalSignOut revokes the refresh token everywhere; the local tokens are dropped even when that call fails.
  async signOut() {
    const user = this.pool.getCurrentUser();
    if (!user || !(await this.session())) return;
    await new Promise((resolve) => user.globalSignOut({ onSuccess: resolve, onFailure: resolve }));
    user.signOut();
  }
}
