-- CreateTable
CREATE TABLE "job_schedule" (
    "name" VARCHAR(100) NOT NULL,
    "next_run_at" TIMESTAMPTZ(3) NOT NULL,
    "running_until" TIMESTAMPTZ(3),
    "last_run_at" TIMESTAMPTZ(3),

    CONSTRAINT "job_schedule_pkey" PRIMARY KEY ("name")
);
