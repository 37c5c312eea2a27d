package server

// TurnBudget is how long a connection is served back to back before it
// yields (takeTurns).
const TurnBudget = turnBudget
