-- CreateTable
CREATE TABLE "alipay_certificates" (
    "sn" VARCHAR(64) NOT NULL,
    "pem" TEXT NOT NULL,
    "valid_to" TIMESTAMPTZ(3) NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "alipay_certificates_pkey" PRIMARY KEY ("sn")
);
