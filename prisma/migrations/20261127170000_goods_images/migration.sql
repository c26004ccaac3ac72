-- CreateTable
CREATE TABLE "goods_images" (
    "id" SERIAL NOT NULL,
    "goods_id" INTEGER NOT NULL,
    "position" INTEGER NOT NULL,
    "format" VARCHAR(10) NOT NULL,
    "original_key" VARCHAR(80) NOT NULL,
    "width" INTEGER NOT NULL,
    "height" INTEGER NOT NULL,
    "variants" JSONB NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "goods_images_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "goods_images_goods_id_position_idx" ON "goods_images"("goods_id", "position");

-- AddForeignKey
ALTER TABLE "goods_images" ADD CONSTRAINT "goods_images_goods_id_fkey" FOREIGN KEY ("goods_id") REFERENCES "goods"("id") ON DELETE CASCADE ON UPDATE CASCADE;
