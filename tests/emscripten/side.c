// A side module (its own dylink.0 section) whose function the main module
// calls between sleeps. Dynamic linking reads dylink.0 first: if a tool
// drops or moves it, loading fails ("need dylink section").
int side_work(int x) { return x * 7; }
