// A TypeScript program on the chatbot database through the generated Prisma Client, as a team's
// dashboard or worker would use it. The tests run it against PostgreSQL and SQLite.
//
// Usage: DATABASE_URL=... tsx todos.mts '[["add", owner, title], ["done", owner, id], ["list", owner]]'
// Runs the steps in order and prints their results as one JSON array (dates as ISO strings).
import { PrismaClient } from "./generated/prisma/client.ts";

const url = process.env.DATABASE_URL ?? "";

async function adapter() {
  if (url.startsWith("file:")) {
    const { PrismaBetterSqlite3 } = await import("@prisma/adapter-better-sqlite3");
    return new PrismaBetterSqlite3({ url });
  }
  const { PrismaPg } = await import("@prisma/adapter-pg");
  return new PrismaPg({ connectionString: url });
}

const prisma = new PrismaClient({ adapter: await adapter() });

type Step = ["add", string, string] | ["done", string, number] | ["list", string];

async function run(step: Step): Promise<unknown> {
  switch (step[0]) {
    case "add":
      return prisma.todo.create({ data: { owner: step[1], title: step[2] } });
    case "done": {
      // Scoped to the owner like every chatbot query: another owner's id changes nothing.
      const { count } = await prisma.todo.updateMany({
        where: { id: step[2], owner: step[1] },
        data: { completed: true },
      });
      return { count };
    }
    case "list":
      return prisma.todo.findMany({ where: { owner: step[1] }, orderBy: { id: "asc" } });
  }
}

try {
  const results = [];
  for (const step of JSON.parse(process.argv[2]) as Step[]) results.push(await run(step));
  console.log(JSON.stringify(results));
} finally {
  await prisma.$disconnect();
}
